import fs from 'node:fs';
import { errnoText, InputError, NotFoundError, PermissionError } from '../errors.js';

/**
 * Reads a user's XML file: refused by size before it is read (a 50 MB "domain" is not a domain), read through
 * one descriptor with a hard cap (a file that grows after the stat, a pipe, /dev/zero: never more than the cap),
 * and decoded as strict UTF-8 (libvirt's files are UTF-8; invalid bytes are an error, not replacement characters).
 * Pipes are accepted so that `vfioctl check <(virsh dumpxml vm)` works.
 */
export const MAX_XML_BYTES = 4 * 1024 * 1024;

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
  let st: fs.Stats;
  try {
    st = fs.statSync(file);
  } catch (err) {
    throw cannotRead(file, err);
  }
  if (st.isDirectory()) throw new InputError(`Cannot read ${file}: it is a directory, not an XML file.`);
  if (st.isFile() && st.size > MAX_XML_BYTES) throw tooBig(file, `${st.size} bytes`);
  const bytes = readAtMost(file, MAX_XML_BYTES + 1);
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
    const buf = Buffer.allocUnsafe(limit);
    let filled = 0;
    while (filled < limit) {
      const n = fs.readSync(fd, buf, filled, limit - filled, null);
      if (n === 0) break;
      filled += n;
    }
    return buf.subarray(0, filled);
  } catch (err) {
    throw cannotRead(file, err);
  } finally {
    fs.closeSync(fd);
  }
}
