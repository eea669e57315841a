import fs from 'node:fs';
import tty from 'node:tty';
import { errnoOf, errnoText, InputError, isAbsent, NotFoundError, PermissionError } from '../errors.js';
import { openNonBlocking, type FileKind } from '../host/regular-file.js';
import { sleep } from '../util/sleep.js';

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
  const code = errnoOf(err);
  if (isAbsent(err)) return new NotFoundError(`Cannot read ${file}: it does not exist.`);
  if (code === 'EACCES' || code === 'EPERM') {
    return new PermissionError(`Cannot read ${file}: permission denied.`, 'Run vfioctl as a user who may read the file (libvirt keeps its own under /etc/libvirt, readable by root).');
  }
  if (code === 'EISDIR') return new InputError(`Cannot read ${file}: it is a directory, not an XML file.`);
  if (code) return new InputError(`Cannot read ${file}: ${code} (${errnoText(code)}).`);
  return err instanceof Error ? err : new Error(String(err));
}

export function readXmlText(file: string): string {
  if (file === '-') return readStdinText(STDIN_NAME);
  let st: fs.Stats;
  try {
    st = fs.statSync(file);
  } catch (err) {
    throw cannotRead(file, err);
  }
  if (st.isDirectory()) throw new InputError(`Cannot read ${file}: it is a directory, not an XML file.`);
  if (st.isFile() && st.size > MAX_XML_BYTES) throw tooBig(file, `${st.size} bytes`);
  return decodeUtf8(readAtMost(file, MAX_XML_BYTES + 1), file);
}

function decodeUtf8(bytes: Buffer, file: string): string {
  if (bytes.length > MAX_XML_BYTES) throw tooBig(file, `larger than ${MAX_XML_BYTES} bytes`);
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    throw new InputError(`${file} is not valid UTF-8 text; libvirt XML is UTF-8.`, 'Convert it with iconv -t UTF-8, or check that this is the file you meant.');
  }
}

/**
 * Standard input until end of file (at most the cap and one byte), named `name` in messages. A terminal is
 * refused rather than waited on: nobody types a domain definition, and a command that silently waits for one
 * looks hung. No deadline: the writer (virsh, libvirt feeding a hook) is running by construction.
 */
export function readStdinText(name: string): string {
  if (tty.isatty(0)) {
    throw new InputError(`${name} is a terminal; with FILE '-' vfioctl reads the XML from a pipe or a redirection.`, 'Pipe it in: virsh dumpxml VM | vfioctl check -');
  }
  try {
    fs.fstatSync(0);
  } catch {
    throw new InputError(`Cannot read ${name}: standard input is closed.`, 'Pipe it in: virsh dumpxml VM | vfioctl check -');
  }
  return decodeUtf8(readDescriptor(0, name, 'FIFO (named pipe)', MAX_XML_BYTES + 1, Infinity), name);
}

/** How long a pipe may take to deliver its XML (virsh dumpxml answers in well under a second). */
const PIPE_WAIT_MS = 10_000;

/**
 * Reads until end of file or `limit` bytes, whichever comes first. Opened non-blocking and checked with fstat
 * on the descriptor: a FIFO without a writer would block a plain open forever. A pipe (`<(virsh dumpxml vm)`)
 * is read as its writer delivers, for at most PIPE_WAIT_MS; directories, sockets and block devices are refused.
 */
function readAtMost(file: string, limit: number): Buffer {
  let opened: ReturnType<typeof openNonBlocking>;
  try {
    opened = openNonBlocking(file);
  } catch (err) {
    throw cannotRead(file, err);
  }
  const { fd, stat, kind } = opened;
  try {
    if (kind === 'directory') throw new InputError(`Cannot read ${file}: it is a directory, not an XML file.`);
    if (kind !== 'regular file' && kind !== 'FIFO (named pipe)' && kind !== 'character device') {
      throw new InputError(`Cannot read ${file}: it is a ${kind}, not an XML file.`);
    }
    if (kind === 'regular file' && stat.size > MAX_XML_BYTES) throw tooBig(file, `${stat.size} bytes`);
    return readDescriptor(fd, file, kind, limit);
  } finally {
    fs.closeSync(fd);
  }
}

function readDescriptor(fd: number, file: string, kind: FileKind, limit: number, waitMs = PIPE_WAIT_MS): Buffer {
  const buf = Buffer.allocUnsafe(limit);
  const deadline = Date.now() + waitMs;
  let filled = 0;
  while (filled < limit) {
    let n: number;
    try {
      n = fs.readSync(fd, buf, filled, limit - filled, null);
    } catch (err) {
      // A pipe its writer made non-blocking answers EAGAIN while empty: wait a little, as a blocking read would.
      if ((err as NodeJS.ErrnoException).code !== 'EAGAIN') throw cannotRead(file, err);
      if (Date.now() >= deadline) {
        throw new InputError(`Cannot read ${file}: it is a ${kind} and nothing came through it in ${PIPE_WAIT_MS / 1000} s.`, 'Give vfioctl the XML file itself, or a pipe whose writer is running.');
      }
      sleep(10);
      continue;
    }
    if (n === 0) break;
    filled += n;
  }
  if (filled === 0 && kind === 'FIFO (named pipe)' && fd !== 0) {
    throw new InputError(`Cannot read ${file}: it is a FIFO (named pipe) with no writer, so there is no XML to read.`, 'Give vfioctl the XML file itself, or start the writer first.');
  }
  return buf.subarray(0, filled);
}
