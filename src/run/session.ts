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
}

export function lockTimeoutMs(text: string): number {
  const s = Number(text);
  return Number.isFinite(s) && s >= 0 ? s * 1000 : 30_000;
}

export function openWriteSession(root: string, command: string, lockTimeout: number): WriteSession {
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
  lock.acquire(command, lockTimeout);
  try {
    const journal = new Journal(host.reader.layout.stateDir, host.root);
    return { host, kernel, journal, close: () => lock.release() };
  } catch (err) {
    lock.release();
    throw err;
  }
}

/** Runs `fn` in a write session on `root` (see openWriteSession) and closes it however `fn` ends. */
export function withWriteSession<T>(root: string, command: string, lockTimeout: number, fn: (session: WriteSession) => T): T {
  const session = openWriteSession(root, command, lockTimeout);
  try {
    return fn(session);
  } finally {
    session.close();
  }
}
