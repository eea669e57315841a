import path from 'node:path';
import { PermissionError } from '../errors.js';
import { Host } from '../host/host.js';
import { openKernel } from './open-kernel.js';
import type { Kernel } from '../kernel/kernel.js';
import { Journal } from './journal.js';
import { HostLock } from './lock.js';

/**
 * A writing session on one host: the kernel to write through, the lock held for its whole length, and the
 * journal. Opened after the root check and before the analysis, so what was analysed is what is changed.
 */
export interface WriteSession {
  host: Host;
  kernel: Kernel;
  journal: Journal;
  close(): void;
  /** The caller's progress callbacks (the run layer prints nothing: the CLI decides what to show). */
  progress?: SessionProgress;
}

/** What a caller may want to hear while a session runs. */
export interface SessionProgress {
  /** The lock is held by a live process and we wait for it: `holder` is its pid, command and since when. */
  onLockWait?: (lockFile: string, holder: string) => void;
  /** A device reached its new driver during a detach (`index` of `total` devices), on a kernel of this kind. */
  onDeviceMoved?: (moved: { device: string; from: string | null; to: string | null | undefined; index: number; total: number; kernel: Kernel['kind'] }) => void;
}

export function lockTimeoutMs(text: string): number {
  const s = Number(text);
  return Number.isFinite(s) && s >= 0 ? s * 1000 : 30_000;
}

export function openWriteSession(root: string, command: string, lockTimeout: number, progress?: SessionProgress): WriteSession {
  // Who answers the writes decides first: without root on a real host, say so before reading anything.
  const kernel = openKernel(root);
  if (kernel.kind === 'linux' && typeof process.getuid === 'function' && process.getuid() !== 0) {
    throw new PermissionError(
      `${command.split(' ')[0]} writes to sysfs and needs root on a real host: run it with sudo.`,
      'Nothing was written. --dry-run and check work as any user.',
    );
  }
  const host = new Host(root);
  const lock = new HostLock(host.reader.layout.stateDir, host.root);
  const onWait = progress?.onLockWait;
  lock.acquire(command, lockTimeout, onWait && ((holder) => onWait(path.join(host.reader.layout.stateDir, 'lock'), holder)));
  try {
    const journal = new Journal(host.reader.layout.stateDir, host.root);
    return { host, kernel, journal, close: () => lock.release(), ...(progress ? { progress } : {}) };
  } catch (err) {
    lock.release();
    throw err;
  }
}

/** Runs `fn` in a write session on `root` (see openWriteSession) and closes it however `fn` ends. */
export function withWriteSession<T>(root: string, command: string, lockTimeout: number, fn: (session: WriteSession) => T, progress?: SessionProgress): T {
  const session = openWriteSession(root, command, lockTimeout, progress);
  try {
    return fn(session);
  } finally {
    session.close();
  }
}
