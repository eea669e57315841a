import fs from 'node:fs';
import path from 'node:path';
import { errnoOf, HostTreeError, LockedError, printable } from '../errors.js';
import { readRegularFile } from '../host/regular-file.js';
import { sleep } from '../util/sleep.js';
import { openNoFollow, StateDir, stateDirFailure } from './state-dir.js';

/**
 * One vfioctl at a time per host root: ROOT/run/vfioctl/lock, created with O_EXCL, holding the owner's pid
 * and its start time (from the running system's /proc, so a reused pid is not mistaken for the owner).
 * A lock whose owner is dead is taken over; the takeover itself is serialized by mkdir of lock.takeover, so
 * two waiters cannot both remove it. A live owner makes us wait, bounded, then fail with its pid.
 */
interface LockOwner {
  pid: number;
  start: string | null;
  command: string;
  since: string;
}

const POLL_MS = 25;

function processStart(pid: number): string | null {
  try {
    // Field 22 of /proc/PID/stat (after the parenthesised command name) is the start time in ticks.
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19] ?? null;
  } catch {
    return null;
  }
}

function alive(owner: LockOwner): boolean {
  // pid 0 and 1 are never a vfioctl (kill(0, 0) signals our own process group and always succeeds), and a
  // lock without a valid pid names no process: no holder, taken over like a dead one.
  const pid: unknown = owner.pid;
  if (typeof pid !== 'number' || !Number.isSafeInteger(pid) || pid <= 1) return false;
  try {
    process.kill(owner.pid, 0);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ESRCH') return false;
  }
  const start = processStart(owner.pid);
  return owner.start === null || start === null || start === owner.start;
}

/**
 * The holder as its lock file describes it: only what the file really says (a lock written by hand or by
 * something else may lack a field, or hold pid 0), never "undefined".
 */
function describeHolder(owner: LockOwner | null): string {
  if (owner === null) return 'another process';
  const pid: unknown = owner.pid;
  if (typeof pid !== 'number' || !Number.isSafeInteger(pid) || pid <= 0) {
    return 'the lock names no process (no valid pid in it; if no vfioctl is running, remove the lock)';
  }
  const text = (v: unknown): string | null => (typeof v === 'string' && v.length > 0 ? printable(v, 80) : null);
  const details = [text(owner.command), text(owner.since) && `since ${text(owner.since)}`].filter((d) => d !== null);
  return `pid ${pid}${details.length > 0 ? ` (${details.join(', ')})` : ''}`;
}

export class HostLock {
  private readonly file: string;
  private readonly state: StateDir;
  /** The lock's path in the checked real directory (state-dir.ts), set by acquire(). */
  private real = '';
  private held = false;
  /** `dir` is ROOT/run/vfioctl, kept inside `root` (state-dir.ts). */
  constructor(
    readonly dir: string,
    root: string = dir.endsWith('/run/vfioctl') ? dir.slice(0, -'/run/vfioctl'.length) || '/' : path.dirname(dir),
  ) {
    this.file = path.join(dir, 'lock');
    this.state = new StateDir(root, dir);
  }

  /** `onWait`: called once, with the holder described, when the lock is held by a live process and we wait. */
  acquire(command: string, timeoutMs: number, onWait?: (holder: string) => void): void {
    this.real = `${this.state.ensure()}/lock`;
    const me: LockOwner = { pid: process.pid, start: processStart(process.pid), command, since: new Date().toISOString() };
    const deadline = Date.now() + timeoutMs;
    let told = false;
    for (;;) {
      try {
        this.create(me);
        return;
      } catch (err) {
        if (errnoOf(err) !== 'EEXIST') throw stateDirFailure(`the lock ${this.file}`, 'create', err);
      }
      const owner = this.owner();
      if (owner && !alive(owner)) {
        this.takeOver(owner);
        continue;
      }
      if (!told && onWait && Date.now() < deadline) {
        told = true;
        onWait(describeHolder(owner));
      }
      if (Date.now() >= deadline) {
        const who = describeHolder(owner);
        throw new LockedError(
          `Another vfioctl holds ${this.file}: ${who}. Gave up after ${Math.round(timeoutMs / 1000)} s.`,
          'Wait for it to finish, or raise --lock-timeout. If that process is gone, run the command again: a dead owner\'s lock is taken over.',
        );
      }
      sleep(POLL_MS);
    }
  }

  /**
   * The lock appears whole or not at all: its content is written to lock.PID.tmp, which is then hard-linked
   * as `lock` (link(2) fails with EEXIST on anything there, a symlink included, and never follows one). A
   * process killed between an O_EXCL create and its write would leave an empty lock that names no one and
   * could never be taken over.
   */
  private create(me: LockOwner): void {
    const tmp = `${this.real}.${process.pid}.tmp`;
    try {
      const fd = openNoFollow(tmp, fs.constants.O_TRUNC);
      try {
        fs.writeSync(fd, JSON.stringify(me));
      } finally {
        fs.closeSync(fd);
      }
      fs.linkSync(tmp, this.real);
      this.held = true;
    } finally {
      fs.rmSync(tmp, { force: true });
    }
    this.sweepDeadTemps();
  }

  /** lock.PID.tmp and journal.json.PID.tmp files of processes killed before they could remove theirs. */
  private sweepDeadTemps(): void {
    const dir = path.dirname(this.real);
    for (const name of fs.readdirSync(dir)) {
      const m = /^(?:lock|journal\.json)\.(\d+)\.tmp$/.exec(name);
      if (m && !alive({ pid: Number(m[1]), start: null, command: '', since: '' })) fs.rmSync(`${dir}/${name}`, { force: true });
    }
  }

  private owner(): LockOwner | null {
    let text: string | undefined;
    try {
      if (fs.lstatSync(this.real, { throwIfNoEntry: false })?.isSymbolicLink()) {
        throw new HostTreeError(`The lock ${this.file} is a symlink, not a lock vfioctl made.`, 'Move it away; vfioctl makes its lock as a regular file.');
      }
      // Non-blocking, and only a regular file: a FIFO here would hang the open past any --lock-timeout.
      text = readRegularFile(
        this.real,
        64 * 1024,
        (kind) => new HostTreeError(`The lock ${this.file} is a ${kind}, not a lock vfioctl made.`, 'Move it away; vfioctl makes its lock as a regular file.'),
        () => new HostTreeError(`The lock ${this.file} is larger than 64 KiB, not a lock vfioctl made.`, 'Move it away; vfioctl makes its lock as a regular file.'),
      );
    } catch (err) {
      if (err instanceof HostTreeError) throw err;
      return null;
    }
    try {
      return text === undefined ? null : (JSON.parse(text) as LockOwner);
    } catch {
      // Being written right now (created, not yet filled) or just removed: look again.
      return null;
    }
  }

  /** Removes a dead owner's lock, under lock.takeover so that only one waiter does it. */
  private takeOver(dead: LockOwner): void {
    const guard = `${this.real}.takeover`;
    try {
      fs.mkdirSync(guard);
    } catch {
      // Someone else is taking over; if their guard is stale (they died too), clear it.
      try {
        if (Date.now() - fs.statSync(guard).mtimeMs > 10_000) fs.rmdirSync(guard);
      } catch {
        /* gone already */
      }
      sleep(POLL_MS);
      return;
    }
    try {
      const now = this.owner();
      if (now && now.pid === dead.pid && now.start === dead.start) fs.unlinkSync(this.real);
    } finally {
      fs.rmdirSync(guard);
    }
  }

  release(): void {
    if (!this.held) return;
    this.held = false;
    try {
      // Where acquire() made it, in the directory checked then: a swap of run/ since cannot redirect it.
      fs.unlinkSync(this.real);
    } catch {
      /* already gone */
    }
  }
}
