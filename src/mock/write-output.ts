import fs from 'node:fs';
import path from 'node:path';
import { errnoOf, errnoText, InputError, isAbsent, NotFoundError, OutputError, PermissionError, type VfioctlError } from '../errors.js';

/**
 * Writes `snapshot -o FILE`. A regular file, or a name that does not exist yet, is replaced atomically (a
 * temp file beside it, then rename), so a failed run leaves no half file. Anything else is never renamed
 * over: a rename would replace a character device (/dev/full, /dev/null) or a symlink (/dev/stdout) with a
 * plain file. A character device, a FIFO and a symlink are written in place, the way a shell's `>` does;
 * a directory, a block device and a socket are refused. The temp file is removed whatever fails.
 */
export function writeOutputFile(file: string, text: string): void {
  let st: fs.Stats | undefined;
  try {
    st = fs.lstatSync(file);
  } catch (err) {
    if (errnoOf(err) !== 'ENOENT') throw cannotWrite(file, err);
  }
  if (st === undefined || st.isFile()) return replaceAtomically(file, text);
  if (st.isDirectory()) throw new InputError(`Cannot write ${file}: it is a directory.`, 'Give -o the name of a file, e.g. -o DIR/host.json.');
  if (st.isSymbolicLink() || st.isCharacterDevice() || st.isFIFO()) return writeInPlace(file, text);
  const what = st.isBlockDevice() ? 'a block device' : st.isSocket() ? 'a socket' : 'not a regular file';
  throw new InputError(`Cannot write ${file}: it is ${what}; vfioctl snapshot writes a regular file, a character device or a pipe.`);
}

function replaceAtomically(file: string, text: string): void {
  const dir = path.dirname(path.resolve(file));
  let dirStat: fs.Stats;
  try {
    dirStat = fs.statSync(dir);
  } catch (err) {
    if (isAbsent(err)) throw new NotFoundError(`Cannot write ${file}: the directory ${dir} does not exist.`, 'Create it first, or give -o a path in an existing directory.');
    throw cannotWrite(file, err);
  }
  if (!dirStat.isDirectory()) throw new NotFoundError(`Cannot write ${file}: ${dir} is not a directory.`);
  const tmp = path.join(dir, `.${path.basename(file)}.${process.pid}.tmp`);
  try {
    fs.writeFileSync(tmp, text, { mode: 0o644, flag: 'wx' });
    fs.renameSync(tmp, file);
  } catch (err) {
    fs.rmSync(tmp, { force: true });
    throw cannotWrite(file, err);
  }
}

/** Through the symlink, into the device or pipe: no create (a dangling link is not followed into a new file), no rename. */
function writeInPlace(file: string, text: string): void {
  let fd: number;
  try {
    fd = fs.openSync(file, fs.constants.O_WRONLY | fs.constants.O_TRUNC);
  } catch (err) {
    if (errnoOf(err) === 'ENOENT') throw new NotFoundError(`Cannot write ${file}: it is a symlink to something that does not exist.`);
    throw cannotWrite(file, err);
  }
  try {
    const st = fs.fstatSync(fd);
    if (st.isDirectory() || st.isBlockDevice() || st.isSocket()) throw new InputError(`Cannot write ${file}: it leads to ${st.isDirectory() ? 'a directory' : st.isBlockDevice() ? 'a block device' : 'a socket'}.`);
    const bytes = Buffer.from(text, 'utf8');
    for (let off = 0; off < bytes.length; ) off += fs.writeSync(fd, bytes, off, bytes.length - off);
  } catch (err) {
    if (err instanceof InputError) throw err;
    throw cannotWrite(file, err);
  } finally {
    fs.closeSync(fd);
  }
}

function cannotWrite(file: string, err: unknown): VfioctlError | Error {
  const c = errnoOf(err);
  if (c === 'EACCES' || c === 'EPERM') return new PermissionError(`Cannot write ${file}: permission denied.`, 'Write it somewhere you may write, or run as a user who may.');
  if (c === 'EISDIR') return new InputError(`Cannot write ${file}: it is a directory.`, 'Give -o the name of a file, e.g. -o DIR/host.json.');
  if (isAbsent(err)) return new NotFoundError(`Cannot write ${file}: a directory on its path does not exist.`);
  if (c) return new OutputError(`Cannot write ${file}: ${c} (${errnoText(c)}).`, 'Free space on that file system, or give -o a file on another.');
  return err instanceof Error ? err : new Error(String(err));
}
