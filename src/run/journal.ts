import fs from 'node:fs';
import path from 'node:path';
import { errnoOf, HostTreeError, PermissionError } from '../errors.js';
import { JOURNAL_VERSION, MAX_JOURNAL_BYTES } from '../host/journal-devices.js';
import type { SysfsWrite } from '../host/layout.js';
import { readRegularFile } from '../host/regular-file.js';
import type { Owner } from '../plan/ownership.js';
import type { PriorBinding } from '../plan/writes.js';
import { checkJournal } from './journal-shape.js';
import { openNoFollow, StateDir, stateDirFailure } from './state-dir.js';

/**
 * vfioctl's memory of what it moved, in ROOT/run/vfioctl/journal.json. Written before the first write of a
 * detach (each device's original driver and driver_override, libvirt's "remember before you change"), and
 * after every completed step, atomically (temp file, fsync, rename, fsync of the directory). A crash leaves
 * it describing the truth to within one step; `reattach --all` restores from it and the live tree.
 */
export { JOURNAL_VERSION };
/** A journal of thousands of devices is a few MiB; more is damage. */

export interface JournalDevice extends PriorBinding {
  /** When vfioctl first moved it, and by which command. */
  since: string;
  by: string;
  /** The libvirt domain or network whose hook moved it (src/libvirt); absent for a plain `detach`. */
  owner?: Owner;
  /** Its network interfaces and their operstate at detach (absent in journals written before this field). */
  links?: LinkState[];
  /** The /dev/vfio nodes `detach --owner` gave away, each as it was before (absent without --owner); reattach restores them. */
  nodes?: NodeRecord[];
}

/** A /dev/vfio node's owner and permission bits before `detach --owner` changed them (src/run/node-owner.ts). */
export interface NodeRecord {
  path: string;
  uid: number;
  gid: number;
  mode: number;
}

/** A network interface of a moved device, as it was before the move: reattach says which came back down. */
export interface LinkState {
  name: string;
  operstate: string;
}

export interface JournalOperation {
  command: string;
  pid: number;
  started: string;
  steps: SysfsWrite[];
  /** How many steps completed. */
  done: number;
}

export interface JournalData {
  version: typeof JOURNAL_VERSION;
  devices: Record<string, JournalDevice>;
  /** The operation under way; null once it has finished (or been rolled back). */
  operation: JournalOperation | null;
}

export class Journal {
  readonly file: string;
  private readonly state: StateDir;
  data: JournalData;

  /** `dir` is ROOT/run/vfioctl; `root` the host root it must stay in (by default, the root that layout implies). */
  constructor(
    readonly dir: string,
    root: string = dir.endsWith('/run/vfioctl') ? dir.slice(0, -'/run/vfioctl'.length) || '/' : path.dirname(dir),
  ) {
    this.file = path.join(dir, 'journal.json');
    this.state = new StateDir(root, dir);
    this.data = this.read();
  }

  private read(): JournalData {
    const file = this.file;
    let text: string | undefined;
    try {
      const real = this.state.file('journal.json');
      // Non-blocking, not through a symlink, and only a regular file: a FIFO put there would otherwise hang every
      // run (src/host/regular-file.ts).
      text = real === undefined ? undefined : readRegularFile(
        real,
        MAX_JOURNAL_BYTES,
        (kind) => new HostTreeError(`The journal ${file} is a ${kind}, not a file vfioctl wrote.`, 'Move it away; vfioctl writes its journal as a regular file.'),
        () => new HostTreeError(`The journal ${file} is larger than ${MAX_JOURNAL_BYTES} bytes; it is damaged.`, 'Look at it, restore the devices by hand if needed, then move it away.'),
        { noFollow: true },
      );
    } catch (err) {
      if (err instanceof HostTreeError) throw err;
      throw new PermissionError(`Cannot read the journal ${file}: ${errnoOf(err) ?? String(err)}.`);
    }
    if (text === undefined) return { version: JOURNAL_VERSION, devices: {}, operation: null };
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch {
      throw new HostTreeError(`The journal ${file} is damaged: it is not JSON.`, 'Look at it, restore the devices by hand if needed, then move it away.');
    }
    return checkJournal(file, parsed, JOURNAL_VERSION);
  }

  /** Records devices before they move; keeps the first record of a device vfioctl already moved. */
  recordPriorBindings(entries: [string, PriorBinding][], by: string, owner?: Owner): void {
    const since = new Date().toISOString();
    for (const [addr, original] of entries) {
      if (!this.data.devices[addr]) this.data.devices[addr] = { ...original, since, by, ...(owner ? { owner } : {}) };
    }
  }

  begin(command: string, steps: SysfsWrite[]): void {
    this.data.operation = { command, pid: process.pid, started: new Date().toISOString(), steps, done: 0 };
    this.save();
  }

  stepDone(index: number): void {
    if (this.data.operation) this.data.operation.done = index + 1;
    this.save();
  }

  finish(): void {
    this.data.operation = null;
    this.save();
  }

  forget(addrs: string[]): void {
    for (const a of addrs) delete this.data.devices[a];
  }

  /**
   * Replaces the journal on disk (temp file, fsync, rename, fsync of the directory), inside the root and
   * never through a symlink (state-dir.ts). A failure (ENOSPC, EROFS ...) leaves no temp file behind and is a
   * JournalWriteError or PermissionError naming the file.
   */
  save(): void {
    let tmp: string | undefined;
    try {
      const real = this.state.ensure();
      tmp = `${real}/journal.json.${process.pid}.tmp`;
      const fd = openNoFollow(tmp, fs.constants.O_TRUNC);
      try {
        fs.writeSync(fd, `${JSON.stringify(this.data, null, 2)}\n`);
        fs.fsyncSync(fd);
      } finally {
        fs.closeSync(fd);
      }
      fs.renameSync(tmp, `${real}/journal.json`);
      tmp = undefined;
      const dfd = fs.openSync(real, fs.constants.O_RDONLY | fs.constants.O_DIRECTORY);
      try {
        fs.fsyncSync(dfd);
      } finally {
        fs.closeSync(dfd);
      }
    } catch (err) {
      if (tmp !== undefined) removeQuietly(tmp);
      throw stateDirFailure(`the journal ${this.file}`, 'write', err);
    }
  }
}

function removeQuietly(file: string): void {
  try {
    fs.rmSync(file, { force: true });
  } catch {
    /* a read-only directory never got the file */
  }
}
