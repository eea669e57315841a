import fs from 'node:fs';
import { errnoOf, HostTreeError, isAbsent, PermissionError } from '../errors.js';
import type { HostLayout } from './layout.js';
import { fileKind } from './regular-file.js';

/**
 * The version of vfioctl's journal format: written by src/run/journal.ts, and by src/mock/materialize.ts for a
 * simulated host that holds devices. Here, the lowest layer both may import (test/layers.test.ts).
 */
export const JOURNAL_VERSION = 1;

const MAX_BYTES = 4 * 1024 * 1024;
const MOVE_IT_AWAY = 'Move it away; vfioctl writes its journal as a regular file.';

/**
 * The `devices` of vfioctl's journal (ROOT/run/vfioctl/journal.json, written by src/run/journal.ts), for the
 * commands that only read it and take no lock: which devices vfioctl holds, and their recorded owners
 * (src/plan/ownership.ts), and what a snapshot records of them (src/mock/snapshot-held.ts). Each entry is
 * left unchecked for its reader to check. No journal, or one that is not JSON with a `devices` object: none.
 */
export function readJournalDevices(layout: HostLayout): Record<string, unknown> {
  const text = readJournalText(`${layout.stateDir}/journal.json`);
  if (text === undefined) return {};
  let devices: unknown;
  try {
    devices = (JSON.parse(text) as { devices?: unknown }).devices;
  } catch {
    return {};
  }
  return typeof devices === 'object' && devices !== null && !Array.isArray(devices) ? (devices as Record<string, unknown>) : {};
}

/**
 * One open, as src/run/journal.ts reads the journal: O_NOFOLLOW (a symlink is not vfioctl's), O_NONBLOCK and
 * then fstat (a FIFO put there would otherwise block the read forever, src/host/regular-file.ts); either is a
 * HostTreeError in journal.ts's words. Undefined when there is none.
 */
function readJournalText(file: string): string | undefined {
  const notVfioctls = (kind: string): HostTreeError => new HostTreeError(`The journal ${file} is a ${kind}, not a file vfioctl wrote.`, MOVE_IT_AWAY);
  let fd: number;
  try {
    fd = fs.openSync(file, fs.constants.O_RDONLY | fs.constants.O_NONBLOCK | fs.constants.O_NOFOLLOW);
  } catch (err) {
    if (isAbsent(err)) return undefined;
    if (errnoOf(err) === 'ELOOP') throw notVfioctls('symlink');
    const code = errnoOf(err);
    if (code === 'EACCES' || code === 'EPERM') throw new PermissionError(`Cannot read the journal ${file}: permission denied.`);
    throw new HostTreeError(`Cannot read the journal ${file}: ${code ?? String(err)}.`);
  }
  try {
    const st = fs.fstatSync(fd);
    if (!st.isFile()) throw notVfioctls(fileKind(st));
    if (st.size > MAX_BYTES) throw new HostTreeError(`The journal ${file} is larger than ${MAX_BYTES} bytes; it is damaged.`, MOVE_IT_AWAY);
    const buf = Buffer.alloc(st.size);
    const n = st.size === 0 ? 0 : fs.readSync(fd, buf, 0, st.size, 0);
    return buf.subarray(0, n).toString('utf8');
  } finally {
    fs.closeSync(fd);
  }
}
