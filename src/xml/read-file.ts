import fs from 'node:fs';
import { InputError, NotFoundError, PermissionError } from '../errors.js';

/**
 * Reads a user's XML file: refused by size before it is read (a 50 MB "domain" is not a domain), and
 * decoded as strict UTF-8 (libvirt's files are UTF-8; invalid bytes are an error, not replacement characters).
 */
export const MAX_XML_BYTES = 4 * 1024 * 1024;

export function readXmlText(file: string): string {
  let bytes: Buffer;
  try {
    const st = fs.statSync(file);
    if (st.isDirectory()) throw new InputError(`${file} is a directory, not an XML file.`);
    if (st.size > MAX_XML_BYTES) {
      throw new InputError(`${file} is ${st.size} bytes; vfioctl reads libvirt XML files of at most ${MAX_XML_BYTES} bytes (4 MiB).`, 'A domain or network definition is a few kilobytes; check that this is the file you meant.');
    }
    bytes = fs.readFileSync(file);
  } catch (err) {
    if (err instanceof InputError) throw err;
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw new NotFoundError(`Cannot read ${file}: it does not exist.`);
    if (code === 'EACCES' || code === 'EPERM') throw new PermissionError(`Cannot read ${file}: permission denied.`);
    throw new InputError(`Cannot read ${file}: ${code ?? String(err)}.`);
  }
  if (bytes.length > MAX_XML_BYTES) throw new InputError(`${file} is larger than ${MAX_XML_BYTES} bytes (4 MiB); refusing it.`);
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    throw new InputError(`${file} is not valid UTF-8 text; libvirt XML is UTF-8.`);
  }
}
