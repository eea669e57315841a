import fs from 'node:fs';

/**
 * Opening a file that someone else may have replaced with a FIFO, a device or a directory. A plain open(2)
 * of a FIFO waits for a writer, forever, before any timeout of ours can run; O_NONBLOCK makes the open return
 * at once whatever the file is, and fstat on the descriptor (not a stat before the open, which a swap of the
 * file would defeat) says what was opened.
 */
export type FileKind = 'regular file' | 'directory' | 'FIFO (named pipe)' | 'character device' | 'block device' | 'socket' | 'symlink' | 'special file';

export function fileKind(st: fs.Stats): FileKind {
  if (st.isFile()) return 'regular file';
  if (st.isDirectory()) return 'directory';
  if (st.isFIFO()) return 'FIFO (named pipe)';
  if (st.isCharacterDevice()) return 'character device';
  if (st.isBlockDevice()) return 'block device';
  if (st.isSocket()) return 'socket';
  if (st.isSymbolicLink()) return 'symlink';
  return 'special file';
}

/** How a file is opened: `noFollow`, a symlink as the last component is refused (ELOOP) instead of followed. */
export interface OpenOptions {
  noFollow?: boolean;
}

/** Opens without blocking; the descriptor and what it is. fs errors (ENOENT, EACCES, ELOOP ...) are thrown as they come. */
export function openNonBlocking(file: string, { noFollow = false }: OpenOptions = {}): { fd: number; stat: fs.Stats; kind: FileKind } {
  const fd = fs.openSync(file, fs.constants.O_RDONLY | fs.constants.O_NONBLOCK | (noFollow ? fs.constants.O_NOFOLLOW : 0));
  try {
    const stat = fs.fstatSync(fd);
    return { fd, stat, kind: fileKind(stat) };
  } catch (err) {
    fs.closeSync(fd);
    throw err;
  }
}

/**
 * Reads a file that must be a regular file: undefined when it does not exist; `notRegular(kind)` is thrown
 * for anything else (with `noFollow`, for a symlink too); `tooBig()` when it holds more than maxBytes (it is
 * never read past that). Other fs errors are thrown as they come, for the caller to name.
 */
export function readRegularFile(file: string, maxBytes: number, notRegular: (kind: FileKind) => Error, tooBig: () => Error, options: OpenOptions = {}): string | undefined {
  let opened: { fd: number; stat: fs.Stats; kind: FileKind };
  try {
    opened = openNonBlocking(file, options);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return undefined;
    if (code === 'ELOOP' && options.noFollow) throw notRegular('symlink');
    throw err;
  }
  const { fd, stat, kind } = opened;
  try {
    if (kind !== 'regular file') throw notRegular(kind);
    if (stat.size > maxBytes) throw tooBig();
    const chunks: Buffer[] = [];
    let total = 0;
    for (;;) {
      const chunk = Buffer.allocUnsafe(Math.min(maxBytes + 1 - total, Math.max(stat.size + 1, 64 * 1024)));
      const n = fs.readSync(fd, chunk, 0, chunk.length, null);
      if (n === 0) break;
      chunks.push(chunk.subarray(0, n));
      total += n;
      if (total > maxBytes) throw tooBig();
    }
    return Buffer.concat(chunks, total).toString('utf8');
  } finally {
    fs.closeSync(fd);
  }
}
