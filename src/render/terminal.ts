import fs from 'node:fs';
import { createRequire } from 'node:module';
import { errnoOf, errnoText, OutputError } from '../errors.js';
import { sleep } from '../util/sleep.js';

// The process's terminal: whether stdout is one, and writing to stdout and stderr. Kept apart from the
// renderers (which only build text) because it is the one place output touches a file descriptor.

/**
 * Whether a file descriptor is a terminal. A stat answers for pipes and files, the usual case in scripts
 * and CI, without loading node:tty, which brings net and stream into every start (bench/results.md, History).
 */
export function isTerminal(fd: number): boolean {
  try {
    const st = fs.fstatSync(fd);
    if (!st.isCharacterDevice()) return false;
    // Output sent to /dev/null (cron jobs, benchmarks) is a character device too: told apart by its device
    // number (the same in every mount of /dev), not by loading node:tty.
    const devNull = fs.statSync('/dev/null', { throwIfNoEntry: false });
    if (devNull !== undefined && devNull.isCharacterDevice() && st.rdev === devNull.rdev) return false;
  } catch {
    return false;
  }
  const tty = createRequire(import.meta.url)('node:tty') as typeof import('node:tty');
  return tty.isatty(fd);
}

/**
 * Writes to stdout or stderr with plain write(2)s: process.stdout would load the stream machinery at
 * every start, for output that is a few lines. A reader that goes away (`vfioctl list | head`) is not an
 * error: further output is dropped, and the command finishes its work (a detach is never cut short by
 * its output). A non-blocking descriptor that is full is waited on. Any other failure (a full disk: ENOSPC,
 * EIO, EROFS) is an OutputError (exit 15); further output to that descriptor is dropped.
 */
export function fdWriter(fd: number): (text: string) => void {
  let closed = false;
  /** Writes buf from `off` on; a full non-blocking descriptor is waited on, a reader gone ends it. */
  const writeAll = (buf: Buffer, off: number): void => {
    while (off < buf.length) {
      try {
        off += fs.writeSync(fd, buf, off);
      } catch (err) {
        if (!retry(err)) return;
      }
    }
  };
  /** Whether to try again after a failed write: yes when the descriptor was full, no when the reader is gone. */
  const retry = (err: unknown): boolean => {
    const code = errnoOf(err);
    if (code === 'EAGAIN') {
      sleep(1);
      return true;
    }
    closed = true;
    if (code === 'EPIPE') return false;
    throw cannotWrite(fd, err);
  };
  return (text) => {
    if (closed || text.length === 0) return;
    // The string is written as it is (Node encodes it on the way, without a Buffer to build: list's output
    // on a large host is megabytes); only what a short write left over goes through a Buffer.
    let written: number;
    try {
      written = fs.writeSync(fd, text);
    } catch (err) {
      if (!retry(err)) return;
      written = 0;
    }
    if (written === Buffer.byteLength(text)) return;
    writeAll(Buffer.from(text, 'utf8'), written);
  };
}

function cannotWrite(fd: number, err: unknown): OutputError {
  const name = fd === 1 ? 'standard output' : fd === 2 ? 'standard error' : `file descriptor ${fd}`;
  const code = errnoOf(err) ?? 'error';
  return new OutputError(`Cannot write to ${name}: ${code} (${errnoText(code)}).`, `Free space or redirect ${name} elsewhere; what was written before is incomplete.`);
}
