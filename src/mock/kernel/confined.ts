import fs from 'node:fs';
import path from 'node:path';
import { HostTreeError, isAbsent } from '../../errors.js';

/**
 * The simulated kernel's writes, each kept inside its host root at the moment it is made. A tree may hold
 * symlinks where directories belong (sys/bus/pci/drivers/NAME, .vfioctl-sim) or have a device's link swapped
 * while a command runs, so before each write the directory it goes into is resolved (realpath) and must be
 * inside the root's real path; the write then goes to that real directory, with O_NOFOLLOW on the file
 * itself. Nothing is written through a symlink and nothing outside the root; the refusal is a HostTreeError
 * naming the path. (The real kernel's writes, src/kernel/linux.ts, open with O_NOFOLLOW the same way.)
 *
 * Files are replaced whole (a temporary file renamed over the old one), so a process killed at any moment
 * leaves the old content or the new, as the kernel's attribute files never show half a value.
 */
export class ConfinedTree {
  readonly realRoot: string;

  constructor(readonly root: string) {
    this.realRoot = fs.realpathSync.native(root);
  }

  /** The real path of directory `dir`, which must be inside the root; fs errors (ENOENT) as they come. */
  realDir(dir: string): string {
    const real = fs.realpathSync.native(dir);
    if (!this.inside(real)) {
      throw new HostTreeError(
        `The simulated kernel refuses to write in ${dir}: it resolves to ${real}, outside the host root ${this.realRoot}.`,
        'Something replaced part of the simulated host with a symlink out of it; create the host again with `vfioctl mock create`.',
      );
    }
    return real;
  }

  /** Where a write of `file` goes: the real path of its directory (checked now), and its own name. */
  place(file: string): string {
    const base = path.basename(file);
    if (base === '' || base === '.' || base === '..') throw new Error(`internal: not a file name: ${file}`);
    return `${this.realDir(path.dirname(file))}/${base}`;
  }

  readFile(file: string): string {
    const fd = fs.openSync(this.place(file), fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW);
    try {
      return fs.readFileSync(fd, 'utf8');
    } finally {
      fs.closeSync(fd);
    }
  }

  /** Replaces a file's content in one step (temporary file, then rename), with the given mode. */
  writeFile(file: string, text: string, mode = 0o644): void {
    const target = this.place(file);
    const tmp = `${target}.sim-tmp`;
    writeNoFollow(tmp, text, fs.constants.O_TRUNC, mode);
    fs.renameSync(tmp, target);
  }

  appendFile(file: string, text: string): void {
    writeNoFollow(this.place(file), text, fs.constants.O_APPEND, 0o644);
  }

  /**
   * Makes `link` a relative symlink to `target` (as the kernel's links are), replacing what was there in one
   * step. The target too must be inside the root: the link is computed between the two real paths.
   */
  symlink(target: string, link: string): void {
    const at = this.place(link);
    const to = this.realDir(target);
    const tmp = `${at}.sim-tmp`;
    fs.rmSync(tmp, { force: true });
    fs.symlinkSync(path.relative(path.dirname(at), to), tmp);
    fs.renameSync(tmp, at);
  }

  /** Removes a file or a link (never what a link points to); nothing when it is gone already. */
  unlink(p: string): void {
    const at = this.placeIfAny(p);
    if (at !== undefined) fs.rmSync(at, { force: true });
  }

  /** Removes a directory and what it holds (a link in its place is removed, not followed). */
  removeTree(dir: string): void {
    const at = this.placeIfAny(dir);
    if (at !== undefined) fs.rmSync(at, { recursive: true, force: true });
  }

  /** As place(), or undefined when the directory does not exist (nothing there to remove). */
  private placeIfAny(p: string): string | undefined {
    try {
      return this.place(p);
    } catch (err) {
      if (isAbsent(err)) return undefined;
      throw err;
    }
  }

  /** chown (and chmod when a mode is given) of a file, never through a symlink: a link there is ELOOP. */
  chown(file: string, uid: number, gid: number, mode?: number): void {
    const at = this.place(file);
    if (fs.lstatSync(at).isSymbolicLink()) throw Object.assign(new Error(`${file} is a symlink`), { code: 'ELOOP' });
    fs.lchownSync(at, uid, gid);
    if (mode !== undefined) fs.chmodSync(at, mode);
  }

  rename(from: string, to: string): void {
    fs.renameSync(this.place(from), this.place(to));
  }

  /** mkdir -p, one component at a time from the root, each checked to be a directory inside the root. */
  mkdirs(dir: string): void {
    let cur = this.realRoot;
    for (const part of this.relative(dir).split('/').filter((p) => p.length > 0)) {
      const next = `${cur}/${part}`;
      try {
        fs.mkdirSync(next);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      }
      cur = this.realDir(next);
    }
  }

  /** `p` relative to the root (given under the root as passed, or under its real path). */
  private relative(p: string): string {
    const abs = path.resolve(p);
    for (const base of [this.realRoot, path.resolve(this.root)]) {
      if (abs === base) return '';
      if (abs.startsWith(base + '/')) return abs.slice(base.length + 1);
    }
    throw new Error(`internal: ${p} is not under the host root ${this.root}`);
  }

  private inside(real: string): boolean {
    return real === this.realRoot || real.startsWith(this.realRoot === '/' ? '/' : this.realRoot + '/');
  }
}

function writeNoFollow(file: string, text: string, flag: number, mode: number): void {
  const fd = fs.openSync(file, fs.constants.O_WRONLY | fs.constants.O_CREAT | fs.constants.O_NOFOLLOW | flag, mode);
  try {
    fs.writeFileSync(fd, text);
  } finally {
    fs.closeSync(fd);
  }
}

const trees = new Map<string, ConfinedTree>();

/** The confined tree of a root (its real path resolved once per process). */
export function confined(root: string): ConfinedTree {
  let t = trees.get(root);
  if (t === undefined) {
    t = new ConfinedTree(root);
    trees.set(root, t);
  }
  return t;
}
