import fs from 'node:fs';
import path from 'node:path';
import { errnoOf, HostTreeError, JournalWriteError, PermissionError } from '../errors.js';

/**
 * vfioctl's own directory, ROOT/run/vfioctl (the journal and the lock), kept inside the host root at the
 * moment of every write. A tree may have `run` or `run/vfioctl` replaced by a symlink out of it, so the
 * directory is created one component at a time from the root's real path, each checked to resolve inside it,
 * and every file operation goes to the checked real directory with O_NOFOLLOW on the file itself (as the
 * simulated kernel's writes do, src/mock/kernel/confined.ts). Nothing is written through a symlink.
 */
export class StateDir {
  private readonly realRoot: string;

  constructor(
    readonly root: string,
    readonly dir: string,
  ) {
    this.realRoot = fs.realpathSync.native(root);
  }

  /** The real path of the directory, created if missing, checked now to be inside the root. */
  ensure(): string {
    const rel = path.relative(path.resolve(this.root), path.resolve(this.dir));
    let cur = this.realRoot;
    for (const part of rel.split('/').filter((p) => p.length > 0)) {
      const next = `${cur}/${part}`;
      try {
        fs.mkdirSync(next, { mode: 0o700 });
      } catch (err) {
        if (errnoOf(err) !== 'EEXIST') throw stateDirFailure(this.dir, 'create', err);
      }
      cur = this.checked(next, path.join(path.resolve(this.root), path.relative(this.realRoot, next)));
    }
    return cur;
  }

  /** The real path of the directory if it exists (checked), else undefined. */
  existing(): string | undefined {
    try {
      return this.checked(this.dir, this.dir);
    } catch (err) {
      if (errnoOf(err) === 'ENOENT' || errnoOf(err) === 'ENOTDIR') return undefined;
      throw err;
    }
  }

  /** Where FILE (a plain name) of the directory is, or undefined when the directory does not exist. */
  file(name: string): string | undefined {
    const real = this.existing();
    return real === undefined ? undefined : `${real}/${name}`;
  }

  /** The real path of `dir` (shown as `shown`), which must be a directory inside the root. */
  private checked(dir: string, shown: string): string {
    const real = fs.realpathSync.native(dir);
    const inside = this.realRoot === '/' || real === this.realRoot || real.startsWith(`${this.realRoot}/`);
    if (!inside) {
      throw new HostTreeError(
        `${shown === this.dir ? '' : `${shown}, part of `}vfioctl's state directory ${this.dir}, resolves to ${real}, outside the host root ${this.realRoot}; vfioctl writes its journal and lock only inside the root.`,
        `Something replaced part of ${this.dir} with a symlink out of the root: remove that symlink (vfioctl creates the directory itself).`,
      );
    }
    if (!fs.statSync(real).isDirectory()) {
      throw new HostTreeError(`vfioctl's state directory ${this.dir} is not a directory.`, 'Move it away; vfioctl creates the directory itself.');
    }
    return real;
  }
}

/** Opens a file of the state directory for writing without following a symlink in its place. */
export function openNoFollow(file: string, flags: number): number {
  return fs.openSync(file, fs.constants.O_WRONLY | fs.constants.O_CREAT | fs.constants.O_NOFOLLOW | flags, 0o600);
}

/**
 * The error for a state-directory operation that failed: a full or read-only file system and other write
 * failures (JournalWriteError, with a sentence), EACCES/EPERM (PermissionError).
 */
export function stateDirFailure(what: string, action: string, err: unknown): Error {
  if (err instanceof HostTreeError || err instanceof JournalWriteError || err instanceof PermissionError) return err;
  const code = errnoOf(err);
  if (code === undefined) return err as Error;
  if (code === 'EACCES' || code === 'EPERM') return new PermissionError(`Cannot ${action} ${what}: ${code}.`, 'vfioctl keeps its journal and lock in ROOT/run/vfioctl; run it as root.');
  const why = code === 'ENOSPC' ? 'the file system is full' : code === 'EROFS' ? 'the file system is read-only' : code === 'EDQUOT' ? 'the disk quota is used up' : code;
  return new JournalWriteError(
    `Cannot ${action} ${what}: ${code} (${why}).`,
    'vfioctl keeps its journal and lock in ROOT/run/vfioctl (a tmpfs on most hosts): free space there or make it writable, then run the command again.',
  );
}
