import fs from 'node:fs';
import path from 'node:path';
import { NotFoundError, PermissionError, UnsafeError, errnoText } from '../errors.js';
import { replaceAtomically } from '../run/atomic-file.js';
import { HOOK_DRIVERS, hookCommand, hookScript, isOurHook, parseHookScript, type HookDriver, type HookTarget } from './hook-script.js';

/**
 * Where vfioctl's hooks live in a libvirt configuration directory, and installing, removing and inspecting
 * them. libvirt ≥ 6.5 runs every executable in hooks/qemu.d/ and hooks/network.d/ after the main script, in
 * name order (libvirt's docs/hooks.rst, "Script names"); older libvirt runs only hooks/qemu and
 * hooks/network, which may be someone else's: vfioctl never replaces a file that lacks its marker.
 */
export type HookLayout = 'directory' | 'legacy';

export function hookPath(libvirtDir: string, driver: HookDriver, layout: HookLayout): string {
  return layout === 'directory' ? path.join(libvirtDir, 'hooks', `${driver}.d`, 'vfioctl') : path.join(libvirtDir, 'hooks', driver);
}

/** The largest file read to see whether it is ours (ours is a few hundred bytes). */
const MAX_HOOK_BYTES = 64 * 1024;

type Existing = { state: 'absent' } | { state: 'foreign'; why: string } | { state: 'ours'; text: string };

function fsError(action: string, file: string, err: unknown): Error {
  const code = (err as NodeJS.ErrnoException).code ?? 'EIO';
  if (code === 'EACCES' || code === 'EPERM' || code === 'EROFS') {
    return new PermissionError(`Cannot ${action} ${file}: ${code} (${errnoText(code)}).`, 'libvirt keeps its hooks in a directory only root may write: run it with sudo.');
  }
  return new PermissionError(`Cannot ${action} ${file}: ${code} (${errnoText(code)}).`);
}

function existing(file: string): Existing {
  let st: fs.Stats;
  try {
    st = fs.lstatSync(file);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { state: 'absent' };
    throw fsError('inspect', file, err);
  }
  if (st.isSymbolicLink()) return { state: 'foreign', why: 'a symbolic link' };
  if (!st.isFile()) return { state: 'foreign', why: 'not a regular file' };
  if (st.size > MAX_HOOK_BYTES) return { state: 'foreign', why: 'another program' };
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (err) {
    throw fsError('read', file, err);
  }
  return isOurHook(text) ? { state: 'ours', text } : { state: 'foreign', why: 'not vfioctl\'s hook' };
}

/** Writes through a temp file in the same directory and a rename: libvirt never sees half a script. */
function writeScript(file: string, text: string): void {
  try {
    replaceAtomically(file, { kind: 'file', content: text, mode: 0o755 });
  } catch (err) {
    throw fsError('write', file, err);
  }
}

function requireLibvirtDir(libvirtDir: string): void {
  if (!fs.existsSync(libvirtDir)) {
    throw new NotFoundError(
      `${libvirtDir} does not exist: is libvirt installed here?`,
      'Give libvirt\'s configuration directory with --libvirt-dir (/etc/libvirt on most distributions, /usr/local/etc/libvirt when built from source).',
    );
  }
}

function foreignError(file: string, why: string, driver: HookDriver, target: HookTarget): UnsafeError {
  return new UnsafeError(
    `${file} exists and is ${why}; vfioctl does not replace it, and wrote nothing.`,
    `Chain it: at the end of that script, run ${hookCommand(driver, target)} "$@" with libvirt's standard input (if the script reads stdin itself, save it first, XML=$(cat), and pipe it on: printf '%s' "$XML" | …), and exit with its status. With libvirt 6.5 or later, install without --legacy instead: hooks/${driver}.d/ runs beside that script.`,
  );
}

export interface InstallResult {
  driver: HookDriver;
  path: string;
  action: 'installed' | 'updated' | 'unchanged';
}

export interface InstallReport {
  hooks: InstallResult[];
  /** vfioctl's own hooks at the other layout's paths, removed so that libvirt does not run vfioctl twice. */
  removed: string[];
}

export function installHooks(libvirtDir: string, legacy: boolean, target: HookTarget): InstallReport {
  requireLibvirtDir(libvirtDir);
  const layout: HookLayout = legacy ? 'legacy' : 'directory';
  const other: HookLayout = legacy ? 'directory' : 'legacy';
  // Every path is checked before the first write: a refusal leaves nothing half installed.
  const plans = HOOK_DRIVERS.map((driver) => {
    const file = hookPath(libvirtDir, driver, layout);
    const now = existing(file);
    if (now.state === 'foreign') throw foreignError(file, now.why, driver, target);
    return { driver, file, now, text: hookScript(driver, target) };
  });
  const hooks: InstallResult[] = plans.map(({ driver, file, now, text }) => {
    if (now.state === 'ours' && now.text === text) return { driver, path: file, action: 'unchanged' };
    writeScript(file, text);
    return { driver, path: file, action: now.state === 'ours' ? 'updated' : 'installed' };
  });
  const removed = HOOK_DRIVERS.map((d) => hookPath(libvirtDir, d, other)).filter((file) => removeIfOurs(file));
  return { hooks, removed };
}

function removeIfOurs(file: string): boolean {
  if (existing(file).state !== 'ours') return false;
  try {
    fs.unlinkSync(file);
  } catch (err) {
    throw fsError('remove', file, err);
  }
  return true;
}

export interface UninstallReport {
  removed: string[];
  /** Files at a hook path that are not vfioctl's: left alone. */
  leftAlone: string[];
}

export function uninstallHooks(libvirtDir: string): UninstallReport {
  const removed: string[] = [];
  const leftAlone: string[] = [];
  for (const layout of ['directory', 'legacy'] as const) {
    for (const driver of HOOK_DRIVERS) {
      const file = hookPath(libvirtDir, driver, layout);
      const now = existing(file);
      if (now.state === 'ours') {
        removeIfOurs(file);
        removed.push(file);
      } else if (now.state === 'foreign') leftAlone.push(file);
    }
  }
  return { removed, leftAlone };
}

export interface HookStatus {
  driver: HookDriver;
  layout: HookLayout;
  path: string;
  state: 'ours' | 'foreign' | 'absent';
  /** For vfioctl's hook: what it runs, and whether that is still there. null when the script was edited. */
  node: string | null;
  nodeExists: boolean | null;
  vfioctl: string | null;
  vfioctlExists: boolean | null;
  executable: boolean | null;
}

export interface StatusReport {
  libvirtDir: string;
  /** A qemu hook of vfioctl's is in place and what it runs exists. */
  installed: boolean;
  hooks: HookStatus[];
  warnings: string[];
}

function statusOf(libvirtDir: string, driver: HookDriver, layout: HookLayout): HookStatus {
  const file = hookPath(libvirtDir, driver, layout);
  const now = existing(file);
  const base = { driver, layout, path: file, state: now.state, node: null, nodeExists: null, vfioctl: null, vfioctlExists: null, executable: null };
  if (now.state !== 'ours') return base;
  const parsed = parseHookScript(now.text);
  let executable = false;
  try {
    fs.accessSync(file, fs.constants.X_OK);
    executable = true;
  } catch {
    /* not executable: libvirt skips it */
  }
  if (!parsed) return { ...base, executable };
  return { ...base, node: parsed.node, nodeExists: fs.existsSync(parsed.node), vfioctl: parsed.vfioctl, vfioctlExists: fs.existsSync(parsed.vfioctl), executable };
}

export function hookStatus(libvirtDir: string): StatusReport {
  const hooks = (['directory', 'legacy'] as const).flatMap((layout) => HOOK_DRIVERS.map((driver) => statusOf(libvirtDir, driver, layout)));
  const ours = hooks.filter((h) => h.state === 'ours');
  const warnings: string[] = [];
  for (const h of ours) {
    if (h.node === null) warnings.push(`${h.path} carries vfioctl's marker but was edited: reinstall it with vfioctl hook install.`);
    if (h.nodeExists === false) warnings.push(`${h.path} runs ${h.node}, which no longer exists: reinstall it with vfioctl hook install.`);
    if (h.vfioctlExists === false) warnings.push(`${h.path} runs ${h.vfioctl}, which no longer exists: reinstall it with vfioctl hook install.`);
    if (h.executable === false) warnings.push(`${h.path} is not executable, so libvirt does not run it: chmod 755 it, or reinstall.`);
  }
  for (const driver of HOOK_DRIVERS) {
    if (ours.filter((h) => h.driver === driver).length > 1) warnings.push(`vfioctl's ${driver} hook is installed twice (${driver}.d/vfioctl and ${driver}); libvirt ≥ 6.5 runs both.`);
  }
  const installed = ours.some((h) => h.driver === 'qemu' && h.nodeExists === true && h.vfioctlExists === true && h.executable === true);
  return { libvirtDir, installed, hooks, warnings };
}
