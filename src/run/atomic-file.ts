import fs from 'node:fs';
import path from 'node:path';

/**
 * Putting a file of vfioctl's own in place whole or not at all, for readers that must never see half of it
 * (libvirt running a hook script, udev and systemd reading persist's files): a temp file or link in the same
 * directory, its mode set whatever the umask, fsync, rename over the target, fsync of the directory. A
 * failure removes the temp file and throws the file system's error as it is: the caller words it.
 */
export type AtomicContent = { kind: 'file'; content: string; mode: number } | { kind: 'symlink'; target: string };

export function replaceAtomically(file: string, what: AtomicContent): void {
  const dir = path.dirname(file);
  const tmp = path.join(dir, `.${path.basename(file)}.vfioctl.${process.pid}.tmp`);
  try {
    fs.mkdirSync(dir, { recursive: true, mode: 0o755 });
    fs.rmSync(tmp, { force: true });
    if (what.kind === 'symlink') fs.symlinkSync(what.target, tmp);
    else writeSynced(tmp, what.content, what.mode);
    fs.renameSync(tmp, file);
    syncDir(dir);
  } catch (err) {
    fs.rmSync(tmp, { force: true });
    throw err;
  }
}

function writeSynced(file: string, content: string, mode: number): void {
  const fd = fs.openSync(file, 'wx', mode);
  try {
    fs.writeSync(fd, content);
    fs.fchmodSync(fd, mode);
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
}

/** Makes a rename or an unlink in `dir` durable. */
export function syncDir(dir: string): void {
  const fd = fs.openSync(dir, 'r');
  try {
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
}
