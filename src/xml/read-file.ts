import fs from 'node:fs';
import tty from 'node:tty';
import { errnoText, InputError, NotFoundError, PermissionError } from '../errors.js';

/**
 * Reads a user's XML file: refused by size before it is read (a 50 MB "domain" is not a domain), read through
 * one descriptor with a hard cap (a file that grows after the stat, a pipe, /dev/zero: never more than the cap),
 * and decoded as strict UTF-8 (libvirt's files are UTF-8; invalid bytes are an error, not replacement characters).
 * Pipes are accepted so that `vfioctl check <(virsh dumpxml vm)` works, and `-` is standard input (named
 * `<stdin>` in messages) so that `virsh dumpxml vm | vfioctl check -` does, with the same cap and decoding.
 */
export const MAX_XML_BYTES = 4 * 1024 * 1024;
export const STDIN_NAME = '<stdin>';

/** The name messages give the input: the path, or `<stdin>` for `-`. */
export function inputName(file: string): string {
  return file === '-' ? STDIN_NAME : file;
}

const TOO_BIG_HINT = 'A domain or network definition is a few kilobytes; check that this is the file you meant.';

function tooBig(file: string, size: string): InputError {
  return new InputError(`${file} is ${size}; vfioctl reads libvirt XML files of at most ${MAX_XML_BYTES} bytes (4 MiB).`, TOO_BIG_HINT);
}

function cannotRead(file: string, err: unknown): Error {
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  if (code === 'ENOENT' || code === 'ENOTDIR') return new NotFoundError(`Cannot read ${file}: it does not exist.`);
  if (code === 'EACCES' || code === 'EPERM') {
    return new PermissionError(`Cannot read ${file}: permission denied.`, 'Run vfioctl as a user who may read the file (libvirt keeps its own under /etc/libvirt, readable by root).');
  }
  if (code === 'EISDIR') return new InputError(`Cannot read ${file}: it is a directory, not an XML file.`);
  if (code) return new InputError(`Cannot read ${file}: ${code} (${errnoText(code)}).`);
  return err instanceof Error ? err : new Error(String(err));
}

export function readXmlText(file: string): string {
  if (file === '-') return decodeUtf8(readStdin(), STDIN_NAME);
  let st: fs.Stats;
  try {
    st = fs.statSync(file);
  } catch (err) {
    throw cannotRead(file, err);
  }
  if (st.isDirectory()) throw new InputError(`Cannot read ${file}: it is a directory, not an XML file.`);
  if (st.isFile() && st.size > MAX_XML_BYTES) throw tooBig(file, `${st.size} bytes`);
  const bytes = readAtMost(file, MAX_XML_BYTES + 1);
  return decodeUtf8(bytes, file);
}

function decodeUtf8(bytes: Buffer, file: string): string {
  if (bytes.length > MAX_XML_BYTES) throw tooBig(file, `larger than ${MAX_XML_BYTES} bytes`);
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    throw new InputError(`${file} is not valid UTF-8 text; libvirt XML is UTF-8.`, 'Convert it with iconv -t UTF-8, or check that this is the file you meant.');
  }
}

/** Reads until end of file or `limit` bytes, whichever comes first. */
function readAtMost(file: string, limit: number): Buffer {
  let fd: number;
  try {
    fd = fs.openSync(file, 'r');
  } catch (err) {
    throw cannotRead(file, err);
  }
  try {
    return readFd(fd, limit);
  } catch (err) {
    throw cannotRead(file, err);
  } finally {
    fs.closeSync(fd);
  }
}

/**
 * Standard input until end of file (at most the cap and one byte). A terminal is refused rather than waited
 * on: nobody types a domain definition, and a command that silently waits for one looks hung.
 */
function readStdin(): Buffer {
  if (tty.isatty(0)) {
    throw new InputError(`${STDIN_NAME} is a terminal; with FILE '-' vfioctl reads the XML from a pipe or a redirection.`, 'Pipe it in: virsh dumpxml VM | vfioctl check -');
  }
  try {
    return readFd(0, MAX_XML_BYTES + 1);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException | undefined)?.code;
    if (code === 'EBADF') throw new InputError(`Cannot read ${STDIN_NAME}: standard input is closed.`, 'Pipe it in: virsh dumpxml VM | vfioctl check -');
    throw cannotRead(STDIN_NAME, err);
  }
}

const pause = new Int32Array(new SharedArrayBuffer(4));

function readFd(fd: number, limit: number): Buffer {
  const buf = Buffer.allocUnsafe(limit);
  let filled = 0;
  while (filled < limit) {
    let n: number;
    try {
      n = fs.readSync(fd, buf, filled, limit - filled, null);
    } catch (err) {
      // A pipe its writer made non-blocking answers EAGAIN while empty: wait a little, as a blocking read would.
      if ((err as NodeJS.ErrnoException).code !== 'EAGAIN') throw err;
      Atomics.wait(pause, 0, 0, 10);
      continue;
    }
    if (n === 0) break;
    filled += n;
  }
  return buf.subarray(0, filled);
}
