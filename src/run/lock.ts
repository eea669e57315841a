import fs from 'node:fs';
import path from 'node:path';
import { HostTreeError, LockedError, PermissionError, printable } from '../errors.js';
import { readRegularFile } from '../host/regular-file.js';
import { sleep } from '../util/sleep.js';

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
  private held = false;
  constructor(readonly dir: string) {
    this.file = path.join(dir, 'lock');
  }

  /** `onWait`: called once, with the holder described, when the lock is held by a live process and we wait. */
  acquire(command: string, timeoutMs: number, onWait?: (holder: string) => void): void {
    try {
      fs.mkdirSync(this.dir, { recursive: true, mode: 0o700 });
    } catch (err) {
      throw new PermissionError(`Cannot create ${this.dir}: ${(err as NodeJS.ErrnoException).code}.`);
    }
    const me: LockOwner = { pid: process.pid, start: processStart(process.pid), command, since: new Date().toISOString() };
    const deadline = Date.now() + timeoutMs;
    let told = false;
    for (;;) {
      try {
        const fd = fs.openSync(this.file, fs.constants.O_WRONLY | fs.constants.O_CREAT | fs.constants.O_EXCL, 0o600);
        fs.writeSync(fd, JSON.stringify(me));
        fs.closeSync(fd);
        this.held = true;
        return;
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code;
        if (code !== 'EEXIST') throw new PermissionError(`Cannot create the lock ${this.file}: ${code}.`);
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

  private owner(): LockOwner | null {
    let text: string | undefined;
    try {
      // Non-blocking, and only a regular file: a FIFO here would hang the open past any --lock-timeout.
      text = readRegularFile(
        this.file,
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
    const guard = `${this.file}.takeover`;
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
      if (now && now.pid === dead.pid && now.start === dead.start) fs.unlinkSync(this.file);
    } finally {
      fs.rmdirSync(guard);
    }
  }

  release(): void {
    if (!this.held) return;
    this.held = false;
    try {
      fs.unlinkSync(this.file);
    } catch {
      /* already gone */
    }
  }
}
