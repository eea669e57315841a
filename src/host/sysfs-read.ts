import fs from 'node:fs';
import path from 'node:path';
import { errnoOf, HostTreeError, isAbsent, PermissionError, printable } from '../errors.js';
import { fileKind, readRegularFile } from './regular-file.js';

/**
 * Careful reads of a host tree that may be the real /sys, a simulated host, or a hostile copy. Attribute
 * files are opened with O_NOFOLLOW (a symlinked `vendor` is refused), reads are capped in size, links are
 * resolved lexically and must stay inside the root, and each fs error becomes an error a user can act on.
 */
const MAX_ATTRIBUTE = 64 * 1024;
const buffer = Buffer.allocUnsafe(MAX_ATTRIBUTE);

/** A FIFO, socket, device or directory where sysfs or procfs has a regular file: a planted or broken tree. */
function notTheKernelsFile(file: string, kind: string): HostTreeError {
  return new HostTreeError(`Cannot read ${file}: it is a ${kind}, where the kernel has a file; the host tree is not trustworthy.`);
}

function fail(err: unknown, file: string): never {
  const code = errnoOf(err);
  // pread(2) of a FIFO or socket put where the kernel has a file.
  if (code === 'ESPIPE') throw notTheKernelsFile(file, 'pipe or socket');
  if (code === 'EACCES' || code === 'EPERM') throw new PermissionError(`Cannot read ${file}: permission denied.`);
  if (code === 'ELOOP') throw new HostTreeError(`Cannot read ${file}: it is a symlink or a symlink loop, where the kernel has a file.`);
  throw new HostTreeError(`Cannot read ${file}: ${code ?? String(err)}.`);
}

/**
 * Opening an attribute: O_NOFOLLOW (a symlinked `vendor` is refused) and O_NONBLOCK: a FIFO put where the kernel
 * has a file would otherwise block the open until a writer comes, forever (sysfs and procfs files ignore the flag).
 */
const ATTRIBUTE_FLAGS = fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW | fs.constants.O_NONBLOCK;

/**
 * An empty read: from an empty attribute, or from a FIFO or device with nothing to say. Only then is the
 * descriptor's type asked (one fstat on a rare path, not on every attribute a list of 10,000 functions reads).
 */
function refuseEmptySpecial(fd: number, file: string): void {
  const kind = fileKind(fs.fstatSync(fd));
  if (kind !== 'regular file') throw notTheKernelsFile(file, kind);
}

/** Reads a small text file; undefined when it does not exist. */
export function readOptional(file: string): string | undefined {
  let fd: number;
  try {
    fd = fs.openSync(file, ATTRIBUTE_FLAGS);
  } catch (err) {
    if (isAbsent(err)) return undefined;
    fail(err, file);
  }
  try {
    const n = fs.readSync(fd, buffer, 0, MAX_ATTRIBUTE, 0);
    if (n === 0) refuseEmptySpecial(fd, file);
    return buffer.toString('latin1', 0, n);
  } catch (err) {
    if (err instanceof HostTreeError) throw err;
    // A device removed while we read it: ENODEV (docs/sysfs-semantics.md, "Writes and their answers"). Treat as gone.
    if (errnoOf(err) === 'ENODEV') return undefined;
    fail(err, file);
  } finally {
    fs.closeSync(fd);
  }
}

/**
 * Reads a whole text file of any size (proc/mounts on a busy host); undefined when missing. UTF-8: the kernel
 * passes a path's bytes through (proc/mounts escapes only space, tab, newline and backslash), and what is
 * read here is printed back to the user.
 */
export function readTextFile(file: string, maxBytes = 16 * 1024 * 1024): string | undefined {
  try {
    // Non-blocking, and only a regular file (src/host/regular-file.ts): a FIFO as proc/mounts must not hang a run.
    return readRegularFile(
      file,
      maxBytes,
      (kind) => notTheKernelsFile(file, kind),
      () => new HostTreeError(`${file} is larger than ${maxBytes} bytes; refusing to read it.`),
    );
  } catch (err) {
    if (err instanceof HostTreeError) throw err;
    if (isAbsent(err)) return undefined;
    fail(err, file);
  }
}

export function readBytes(file: string, length: number): Buffer | undefined {
  let fd: number;
  try {
    fd = fs.openSync(file, ATTRIBUTE_FLAGS);
  } catch (err) {
    const code = errnoOf(err);
    if (isAbsent(err) || code === 'EACCES' || code === 'EPERM') return undefined;
    fail(err, file);
  }
  try {
    const out = Buffer.alloc(length);
    let n: number;
    try {
      n = fs.readSync(fd, out, 0, length, 0);
    } catch {
      return undefined;
    }
    if (n === 0) refuseEmptySpecial(fd, file);
    return out.subarray(0, n);
  } finally {
    fs.closeSync(fd);
  }
}

/**
 * Whether a path exists (without following a final symlink). Cheap when it does not: lstat with
 * throwIfNoEntry answers without building an exception, which costs more than the system call.
 */
export function exists(p: string): boolean {
  try {
    return fs.lstatSync(p, { throwIfNoEntry: false }) !== undefined;
  } catch (err) {
    if (errnoOf(err) === 'ENOTDIR') return false;
    fail(err, p);
  }
}

/** Lists a directory; undefined when it does not exist. */
export function listDir(dir: string): string[] | undefined {
  try {
    return fs.readdirSync(dir);
  } catch (err) {
    if (isAbsent(err)) return undefined;
    fail(err, dir);
  }
}

/**
 * Lists a directory, or nothing when it cannot be listed for any reason: gone, not a directory, not readable (a
 * process's ROOT/proc/PID/fd that ends meanwhile or is another user's). For walks that skip what they cannot see.
 */
export function listDirOrEmpty(dir: string): string[] {
  try {
    return fs.readdirSync(dir);
  } catch {
    return [];
  }
}

/**
 * Whether a directory has an entry whose name passes `test`: read entry by entry up to the first such one,
 * not listed whole (sys/kernel/iommu_groups of a host with 10,000 groups); false when it does not exist.
 */
export function hasEntry(dir: string, test: (name: string) => boolean): boolean {
  let d: fs.Dir;
  try {
    d = fs.opendirSync(dir);
  } catch (err) {
    if (isAbsent(err)) return false;
    fail(err, dir);
  }
  try {
    for (let e = d.readSync(); e !== null; e = d.readSync()) if (test(e.name)) return true;
    return false;
  } finally {
    d.closeSync();
  }
}

/**
 * Reads a symlink and resolves its target lexically (as the kernel's relative links are meant), mapping an
 * absolute target into the root. Returns undefined when the link does not exist. Throws HostTreeError when
 * the target leaves `within` (a directory under the root).
 */
export function readLinkWithin(link: string, root: string, within: string): string | undefined {
  let target: string;
  try {
    target = fs.readlinkSync(link);
  } catch (err) {
    if (isAbsent(err)) return undefined;
    if (errnoOf(err) === 'EINVAL') throw new HostTreeError(`${link} should be a symlink, as in the kernel's sysfs, but is not.`);
    fail(err, link);
  }
  const resolved = target.startsWith('/') ? path.join(root, target) : resolveRelative(link.slice(0, link.lastIndexOf('/')), target);
  if (!isWithin(resolved, within)) {
    throw new HostTreeError(`The link ${link} points to '${printable(target)}', outside ${within}; the host tree is not trustworthy.`);
  }
  return resolved;
}

/**
 * path.resolve(dir, target) for an absolute, normalized `dir` and a relative link target, without its
 * generality in the case the kernel's links always take: some `../`, then plain names. A host with 10,000
 * functions has some 40,000 links to resolve for `list`; anything else goes to path.resolve.
 */
export function resolveRelative(dir: string, target: string): string {
  let base = dir;
  let i = 0;
  while (target.startsWith('../', i)) {
    base = base.slice(0, base.lastIndexOf('/'));
    i += 3;
  }
  const rest = i === 0 ? target : target.slice(i);
  if (base === '' || rest === '' || rest.startsWith('.') || rest.endsWith('/') || rest.includes('/.') || rest.includes('//')) return path.resolve(dir, target);
  return `${base}/${rest}`;
}

/** Whether a normalized absolute path is `dir` or inside it (no string built: list checks some 30,000 links). */
function isWithin(p: string, dir: string): boolean {
  return p.startsWith(dir) && (p.length === dir.length || p.charCodeAt(dir.length) === 0x2f || dir === '/');
}

/** Resolves a path with every symlink followed (realpath); the result must stay inside `within`. */
export function realPathWithin(p: string, within: string): string | undefined {
  let real: string;
  try {
    real = fs.realpathSync.native(p);
  } catch (err) {
    if (isAbsent(err)) return undefined;
    if (errnoOf(err) === 'ELOOP') throw new HostTreeError(`${p} is part of a symlink loop; the host tree is broken.`);
    fail(err, p);
  }
  if (!isWithin(real, within)) {
    throw new HostTreeError(`${p} resolves to ${real}, outside ${within}; the host tree is not trustworthy.`);
  }
  return real;
}
