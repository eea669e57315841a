import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { PermissionError, VfioUnavailableError } from '../errors.js';
import { isWhitelistedWrite, type SysfsWrite } from '../host/layout.js';
import type { DriverName } from '../pci/driver.js';
import { isVfioGroupNodePath, isVfioNodePath, SysfsWriteError, type Kernel } from './kernel.js';

/**
 * The real kernel: each write is one open(O_WRONLY|O_NOFOLLOW) + one write(2) of the whole value on the
 * sysfs file, so the kernel's store() sees exactly the value, and its errno comes back unchanged.
 */
export class LinuxKernel implements Kernel {
  readonly kind = 'linux' as const;
  readonly performed: SysfsWrite[] = [];

  constructor(readonly root: string) {}

  write(w: SysfsWrite): void {
    if (!isWhitelistedWrite(w.hostPath)) throw new Error(`internal: refusing a write outside the whitelist: ${w.hostPath}`);
    const file = path.join(this.root, w.hostPath);
    let fd: number | undefined;
    try {
      fd = fs.openSync(file, fs.constants.O_WRONLY | fs.constants.O_NOFOLLOW);
      const buf = Buffer.from(w.value, 'latin1');
      const n = fs.writeSync(fd, buf, 0, buf.length);
      if (n !== buf.length) throw Object.assign(new Error('short write'), { code: 'EIO' });
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code ?? 'EIO';
      throw new SysfsWriteError(w.hostPath, w.value, code);
    } finally {
      if (fd !== undefined) fs.closeSync(fd);
    }
    this.performed.push(w);
  }

  /**
   * lchown, so a symlink put in the node's place is never followed (it fails with ELOOP before anything
   * changes); the directory must resolve inside the root. chmod only when the mode differs, after lstat said
   * the node is no link.
   */
  chown(node: string, uid: number, gid: number, mode?: number): void {
    if (!isVfioNodePath(node)) throw new Error(`internal: refusing to chown outside /dev/vfio: ${node}`);
    const realRoot = fs.realpathSync.native(this.root);
    const dir = fs.realpathSync.native(path.join(this.root, path.dirname(node)));
    if (dir !== realRoot && !dir.startsWith(realRoot === '/' ? '/' : `${realRoot}/`)) throw Object.assign(new Error(`${node} resolves outside ${this.root}`), { code: 'EXDEV' });
    const file = path.join(dir, path.basename(node));
    const st = fs.lstatSync(file);
    if (st.isSymbolicLink()) throw Object.assign(new Error(`${node} is a symlink`), { code: 'ELOOP' });
    fs.lchownSync(file, uid, gid);
    if (mode !== undefined && (st.mode & 0o7777) !== mode) fs.chmodSync(file, mode);
  }

  /**
   * open(O_RDWR|O_NONBLOCK|O_NOFOLLOW), then close: the kernel answers EBUSY while the group's file is open (a
   * device fd keeps it open) or a device cdev is bound to iommufd. An open that succeeds has no lasting effect:
   * the release detaches no container, since none was set (docs/sysfs-semantics.md, "A group in use").
   */
  probeGroupNode(node: string): string | null {
    if (!isVfioGroupNodePath(node)) throw new Error(`internal: refusing to open outside /dev/vfio: ${node}`);
    let fd: number;
    try {
      fd = fs.openSync(path.join(this.root, node), fs.constants.O_RDWR | fs.constants.O_NONBLOCK | fs.constants.O_NOFOLLOW);
    } catch (err) {
      return (err as NodeJS.ErrnoException).code ?? 'EIO';
    }
    fs.closeSync(fd);
    return null;
  }

  loadModule(name: DriverName): void {
    if (fs.existsSync(path.join(this.root, 'sys/bus/pci/drivers', name))) return;
    const r = spawnSync('modprobe', [name], { encoding: 'utf8', timeout: 60_000 });
    if (r.error && (r.error as NodeJS.ErrnoException).code === 'ENOENT') {
      throw new VfioUnavailableError(`${name} is not loaded and modprobe is not installed, so it cannot be loaded.`, 'Install kmod, or load the module another way, then run this again.');
    }
    if (r.status !== 0) {
      const why = (r.stderr || r.stdout || '').trim().split('\n')[0] ?? '';
      if (/Operation not permitted|Permission denied/i.test(why)) throw new PermissionError(`modprobe ${name} was refused: ${why}`);
      throw new VfioUnavailableError(`${name} is not loaded and \`modprobe ${name}\` failed${why ? `: ${why}` : ` (exit ${r.status ?? 'killed'})`}.`, 'Install the kernel modules package that ships vfio-pci, or build the kernel with CONFIG_VFIO_PCI.');
    }
    if (!fs.existsSync(path.join(this.root, 'sys/bus/pci/drivers', name))) {
      throw new VfioUnavailableError(`\`modprobe ${name}\` succeeded but sys/bus/pci/drivers/${name} did not appear.`);
    }
  }
}
