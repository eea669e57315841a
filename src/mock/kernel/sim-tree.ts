import fs from 'node:fs';
import path from 'node:path';
import { HostTreeError } from '../../errors.js';
import { confined } from './confined.js';

/**
 * The few tree operations the simulated kernel performs, shared with the materializer that builds the
 * initial tree: a device's driver link and its back link in the driver's directory, a driver's directory,
 * and attribute files. All links are relative, as the kernel's are. Every write goes through the root's
 * confined tree (confined.ts), so none leaves the root; relLink, the materializer's, builds a fresh tree.
 */
export function relLink(target: string, link: string): void {
  fs.symlinkSync(path.relative(path.dirname(link), target), link);
}

export function driversDir(root: string): string {
  return path.join(root, 'sys', 'bus', 'pci', 'drivers');
}

/** Registers a driver: sys/bus/pci/drivers/NAME with its control files and module link. */
export function createDriverDir(root: string, name: string, module: string | null): void {
  const tree = confined(root);
  const dir = path.join(driversDir(root), name);
  tree.mkdirs(dir);
  for (const f of ['bind', 'unbind', 'new_id', 'remove_id', 'uevent']) tree.writeFile(path.join(dir, f), '', 0o200);
  if (module !== null) {
    const modDir = path.join(root, 'sys', 'module', module);
    tree.mkdirs(path.join(modDir, 'drivers'));
    if (!fs.existsSync(path.join(dir, 'module'))) tree.symlink(modDir, path.join(dir, 'module'));
  }
}

/**
 * The real directory of a device (sys/devices/...), from its sys/bus/pci/devices link; it must be inside
 * the root's sys/devices (a link swapped to elsewhere is a HostTreeError, before anything is read there).
 */
export function deviceDir(root: string, address: string): string | undefined {
  let real: string;
  try {
    real = fs.realpathSync.native(path.join(root, 'sys', 'bus', 'pci', 'devices', address));
  } catch {
    return undefined;
  }
  const devices = path.join(confined(root).realRoot, 'sys', 'devices');
  if (!real.startsWith(devices + '/')) {
    throw new HostTreeError(
      `The simulated kernel refuses to touch ${address}: sys/bus/pci/devices/${address} resolves to ${real}, outside the host root's sys/devices (${devices}).`,
      'Something replaced part of the simulated host with a symlink out of it; create the host again with `vfioctl mock create`.',
    );
  }
  return real;
}

export function boundDriver(devDir: string): string | null {
  try {
    return path.basename(fs.readlinkSync(path.join(devDir, 'driver')));
  } catch {
    return null;
  }
}

/**
 * A bind, as one change of the tree as far as files allow: the driver's back link, then the device's
 * `driver` link (the moment the device is bound: the simulated kernel and vfioctl's reader both go by it),
 * then uevent with DRIVER=, replaced whole. A process killed between two steps leaves uevent without
 * DRIVER= beside a `driver` link, never the other way round, and the reader (src/host/reader.ts) reads the
 * link whenever uevent names no driver. Each link replaces whatever a killed run left in its place.
 */
export function linkDriver(root: string, devDir: string, address: string, driver: string): void {
  const tree = confined(root);
  const drvDir = path.join(driversDir(root), driver);
  tree.symlink(devDir, path.join(drvDir, address));
  tree.symlink(drvDir, path.join(devDir, 'driver'));
  setUeventDriver(root, devDir, driver);
}

/** An unbind, in the opposite order: uevent loses DRIVER= first, then the `driver` link goes, then the back link. */
export function unlinkDriver(root: string, devDir: string, address: string): void {
  const tree = confined(root);
  const driver = boundDriver(devDir);
  setUeventDriver(root, devDir, null);
  tree.unlink(path.join(devDir, 'driver'));
  if (driver !== null) tree.unlink(path.join(driversDir(root), driver, address));
}

/**
 * The kernel generates `uevent` when it is read, with DRIVER= while a driver is bound (dev_uevent); the
 * simulated tree stores it, so every bind and unbind rewrites that line. A tree made before vfioctl wrote
 * uevent files has none, and keeps none.
 */
function setUeventDriver(root: string, devDir: string, driver: string | null): void {
  const text = readAttr(devDir, 'uevent');
  if (text === undefined) return;
  const rest = text.split('\n').filter((l) => !l.startsWith('DRIVER='));
  confined(root).writeFile(path.join(devDir, 'uevent'), (driver === null ? rest : [`DRIVER=${driver}`, ...rest]).join('\n'));
}

export function readAttr(devDir: string, name: string): string | undefined {
  try {
    return fs.readFileSync(path.join(devDir, name), 'latin1');
  } catch {
    return undefined;
  }
}
