import fs from 'node:fs';
import path from 'node:path';

/**
 * Every file `vfioctl persist` writes, as a path on the host (`/etc/...`) and under the host root. The one
 * module that builds these paths: nothing else of src/persist joins a path, and no user text goes into one.
 *
 * - the record (persist.json), from which every other file is generated (src/persist/generate.ts);
 * - the udev rule, numbered before the rules that load driver modules (Debian's 80-drivers.rules);
 * - vfio-pci in modules-load.d;
 * - the boot check's systemd unit, and the link `systemctl enable` would make for it.
 */
export const RECORD_FILE = '/etc/vfioctl/persist.json';
export const UDEV_RULE_FILE = '/etc/udev/rules.d/60-vfioctl.rules';
export const MODULES_LOAD_FILE = '/etc/modules-load.d/vfioctl.conf';
export const VERIFY_UNIT = 'vfioctl-verify.service';
export const VERIFY_UNIT_FILE = `/etc/systemd/system/${VERIFY_UNIT}`;
export const VERIFY_UNIT_WANTS_LINK = `/etc/systemd/system/multi-user.target.wants/${VERIFY_UNIT}`;

/** Every path vfioctl persist may write or remove, in the order they are written. */
export const PERSIST_PATHS: readonly string[] = [RECORD_FILE, UDEV_RULE_FILE, MODULES_LOAD_FILE, VERIFY_UNIT_FILE, VERIFY_UNIT_WANTS_LINK];

/** A host path of PERSIST_PATHS under a host root (the real `/`, a simulated host, any tree laid out like one). */
export function onRoot(root: string, hostPath: string): string {
  if (!PERSIST_PATHS.includes(hostPath)) throw new Error(`not a path of vfioctl persist: ${hostPath}`);
  return path.join(path.resolve(root), hostPath);
}

/** What persist reads, besides its own files, to find drivers that bind before the rule (src/persist/early-drivers.ts). */
const OS_RELEASE_FILES = ['/etc/os-release', '/usr/lib/os-release'];
const INITRAMFS_TOOLS_MODULES = '/etc/initramfs-tools/modules';
const DRACUT_CONF_DIR = '/etc/dracut.conf.d';

/** The initramfs configuration files that may name drivers to load: initramfs-tools' modules, dracut's *.conf. */
export function earlyDriverPaths(root: string): string[] {
  let confs: string[] = [];
  try {
    confs = fs.readdirSync(path.join(path.resolve(root), DRACUT_CONF_DIR)).filter((f) => /^[A-Za-z0-9._-]+\.conf$/.test(f)).sort();
  } catch {
    confs = []; // no dracut configuration
  }
  return [INITRAMFS_TOOLS_MODULES, '/etc/dracut.conf', ...confs.map((f) => `${DRACUT_CONF_DIR}/${f}`)];
}

/** A file persist reads (os-release, the initramfs configuration) under a host root. */
export function onRootForReading(root: string, hostPath: string): string {
  const ok = OS_RELEASE_FILES.includes(hostPath) || hostPath === INITRAMFS_TOOLS_MODULES || hostPath === '/etc/dracut.conf' || new RegExp(`^${DRACUT_CONF_DIR}/[A-Za-z0-9._-]+\\.conf$`).test(hostPath);
  if (!ok) throw new Error(`not a path vfioctl persist reads: ${hostPath}`);
  return path.join(path.resolve(root), hostPath);
}
