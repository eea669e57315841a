import { errnoOf, HostTreeError, isAbsent, PermissionError } from '../errors.js';
import type { HostLayout } from './layout.js';
import { readRegularFile } from './regular-file.js';

/**
 * The version of vfioctl's journal format: written by src/run/journal.ts, and by src/mock/materialize.ts for a
 * simulated host that holds devices. Here, the lowest layer both may import (test/layers.test.ts).
 */
export const JOURNAL_VERSION = 1;

/** The largest journal vfioctl reads: src/run/journal.ts and the readers here refuse a larger one alike. */
export const MAX_JOURNAL_BYTES = 16 * 1024 * 1024;
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
 * The journal's text, read as src/run/journal.ts reads it (src/host/regular-file.ts: one open, O_NOFOLLOW and
 * O_NONBLOCK, then fstat: a symlink is not vfioctl's, and a FIFO put there must not block the read forever),
 * in journal.ts's words. Undefined when there is none.
 */
function readJournalText(file: string): string | undefined {
  try {
    return readRegularFile(
      file,
      MAX_JOURNAL_BYTES,
      (kind) => new HostTreeError(`The journal ${file} is a ${kind}, not a file vfioctl wrote.`, MOVE_IT_AWAY),
      () => new HostTreeError(`The journal ${file} is larger than ${MAX_JOURNAL_BYTES} bytes; it is damaged.`, MOVE_IT_AWAY),
      { noFollow: true },
    );
  } catch (err) {
    if (err instanceof HostTreeError) throw err;
    if (isAbsent(err)) return undefined;
    const code = errnoOf(err);
    if (code === 'EACCES' || code === 'EPERM') throw new PermissionError(`Cannot read the journal ${file}: permission denied.`);
    throw new HostTreeError(`Cannot read the journal ${file}: ${code ?? String(err)}.`);
  }
}
