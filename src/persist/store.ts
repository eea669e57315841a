import fs from 'node:fs';
import path from 'node:path';
import { errnoText, HostTreeError, PermissionError, UnsafeError } from '../errors.js';
import { readRegularFile } from '../host/regular-file.js';
import { replaceAtomically, syncDir } from '../run/atomic-file.js';
import type { GeneratedFile } from './generate.js';
import { onRoot, PERSIST_PATHS, RECORD_FILE, VERIFY_UNIT_FILE } from './paths.js';
import { parseRecord, type PersistRecord } from './record.js';

/**
 * Reading the record and putting the generated files in place under a host root: each through a temp file
 * (or link) in the same directory and a rename, so that udev and systemd never read half a file; never
 * outside the root (a directory on the way that leads out of it is refused); never over a file that is not
 * vfioctl's. Every check is made before the first write, so a refusal leaves everything as it was.
 */
const MAX_RECORD_BYTES = 4 * 1024 * 1024;
const MARKER = '# Written by vfioctl persist';

export interface FileChange {
  path: string;
  action: 'written' | 'unchanged' | 'removed';
}

function fsError(action: string, file: string, err: unknown): Error {
  const code = (err as NodeJS.ErrnoException).code ?? 'EIO';
  return new PermissionError(`Cannot ${action} ${file}: ${code} (${errnoText(code)}).`, code === 'EACCES' || code === 'EPERM' || code === 'EROFS' ? 'Files under /etc are root\'s: run it with sudo.' : undefined);
}

/** The record under root; null when nothing is persisted. */
export function readRecord(root: string): PersistRecord | null {
  const file = onRoot(root, RECORD_FILE);
  let text: string | undefined;
  try {
    text = readRegularFile(
      file,
      MAX_RECORD_BYTES,
      (kind) => new HostTreeError(`${file} is a ${kind}, not the file vfioctl persist writes.`, 'Move it away and persist again.'),
      () => new HostTreeError(`${file} is larger than ${MAX_RECORD_BYTES} bytes; it is damaged.`, 'Look at it, then move it away and persist again.'),
    );
  } catch (err) {
    if (err instanceof HostTreeError) throw err;
    throw fsError('read', file, err);
  }
  return text === undefined ? null : parseRecord(text, file);
}

type Existing = { kind: 'absent' } | { kind: 'file'; content: string } | { kind: 'symlink'; target: string } | { kind: 'other' };

function existing(file: string): Existing {
  let st: fs.Stats;
  try {
    st = fs.lstatSync(file);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { kind: 'absent' };
    throw fsError('inspect', file, err);
  }
  if (st.isSymbolicLink()) return { kind: 'symlink', target: fs.readlinkSync(file) };
  if (!st.isFile() || st.size > MAX_RECORD_BYTES) return { kind: 'other' };
  try {
    return { kind: 'file', content: fs.readFileSync(file, 'utf8') };
  } catch (err) {
    throw fsError('read', file, err);
  }
}

/** Whether what is at a path of ours may be replaced or removed: it is absent, or vfioctl wrote it. */
function isOurs(hostPath: string, now: Existing): boolean {
  if (now.kind === 'absent') return true;
  if (hostPath === RECORD_FILE) return now.kind === 'file';
  if (now.kind === 'symlink') return now.target === VERIFY_UNIT_FILE;
  return now.kind === 'file' && now.content.startsWith(MARKER);
}

const same = (f: GeneratedFile, now: Existing): boolean =>
  f.kind === 'file' ? now.kind === 'file' && now.content === f.content : now.kind === 'symlink' && now.target === f.target;

/** Whether a resolved path is the resolved root or under it; everything is under `/` (the real host's root). */
export function isUnderRoot(realRoot: string, real: string): boolean {
  return realRoot === path.sep || real === realRoot || real.startsWith(realRoot + path.sep);
}

/** Refuses a directory on the way to `file` that resolves outside the root (a symlink to the real /etc, say). */
function checkInsideRoot(root: string, file: string): void {
  const realRoot = fs.realpathSync(path.resolve(root));
  let dir = path.dirname(file);
  while (!fs.existsSync(dir)) dir = path.dirname(dir);
  const real = fs.realpathSync(dir);
  if (!isUnderRoot(realRoot, real)) {
    throw new UnsafeError(`${file} would be written outside the host root ${realRoot}: ${dir} leads to ${real}. vfioctl wrote nothing.`);
  }
}

export interface FilePlan {
  path: string;
  /** What the run does with it: the content or link to write, unchanged, or removed. */
  action: 'write' | 'unchanged' | 'remove';
  file: GeneratedFile | null;
}

/**
 * What putting exactly `wanted` in place among PERSIST_PATHS under root takes: writes what differs, removes
 * what is not wanted. Checks everything (ownership, the root) and writes nothing: the dry run shows this.
 */
export function planFiles(root: string, wanted: readonly GeneratedFile[]): FilePlan[] {
  return PERSIST_PATHS.flatMap((hostPath): FilePlan[] => {
    const file = onRoot(root, hostPath);
    const now = existing(file);
    if (!isOurs(hostPath, now)) {
      throw new UnsafeError(`${file} exists and was not written by vfioctl persist; vfioctl does not replace or remove it, and wrote nothing.`, 'Look at it, and move it away if it is a leftover.');
    }
    checkInsideRoot(root, file);
    const want = wanted.find((f) => f.path === hostPath) ?? null;
    if (want) return [{ path: hostPath, action: same(want, now) ? 'unchanged' : 'write', file: want }];
    return now.kind === 'absent' ? [] : [{ path: hostPath, action: 'remove', file: null }];
  });
}

/** Carries out a plan of planFiles; the record (RECORD_FILE) last, written or removed, once what it describes is in place. */
export function applyPlan(root: string, plan: readonly FilePlan[]): FileChange[] {
  const order = [...plan.filter((p) => p.path !== RECORD_FILE), ...plan.filter((p) => p.path === RECORD_FILE)];
  for (const p of order) {
    if (p.action === 'write') writeAtomically(onRoot(root, p.path), p.file!);
    else if (p.action === 'remove') remove(onRoot(root, p.path));
  }
  return plan.map((p) => ({ path: p.path, action: p.action === 'write' ? 'written' : p.action === 'remove' ? 'removed' : 'unchanged' }));
}

function writeAtomically(file: string, f: GeneratedFile): void {
  try {
    // 0644 whatever the umask: udev and systemd read these as any user
    replaceAtomically(file, f.kind === 'symlink' ? f : { kind: 'file', content: f.content, mode: 0o644 });
  } catch (err) {
    throw fsError('write', file, err);
  }
}

function remove(file: string): void {
  try {
    fs.unlinkSync(file);
    syncDir(path.dirname(file));
  } catch (err) {
    throw fsError('remove', file, err);
  }
}
