import fs from 'node:fs';
import path from 'node:path';

/**
 * The few tree operations the simulated kernel performs, shared with the materializer that builds the
 * initial tree: a device's driver link and its back link in the driver's directory, a driver's directory,
 * and attribute files. All links are relative, as the kernel's are.
 */
export function relLink(target: string, link: string): void {
  fs.symlinkSync(path.relative(path.dirname(link), target), link);
}

export function driversDir(root: string): string {
  return path.join(root, 'sys', 'bus', 'pci', 'drivers');
}

/** Registers a driver: sys/bus/pci/drivers/NAME with its control files and module link. */
export function createDriverDir(root: string, name: string, module: string | null): void {
  const dir = path.join(driversDir(root), name);
  fs.mkdirSync(dir, { recursive: true });
  for (const f of ['bind', 'unbind', 'new_id', 'remove_id']) fs.writeFileSync(path.join(dir, f), '', { mode: 0o200 });
  fs.writeFileSync(path.join(dir, 'uevent'), '', { mode: 0o200 });
  if (module !== null) {
    const modDir = path.join(root, 'sys', 'module', module);
    fs.mkdirSync(path.join(modDir, 'drivers'), { recursive: true });
    if (!fs.existsSync(path.join(dir, 'module'))) relLink(modDir, path.join(dir, 'module'));
  }
}

/** The real directory of a device (sys/devices/...), from its sys/bus/pci/devices link. */
export function deviceDir(root: string, address: string): string | undefined {
  try {
    return fs.realpathSync.native(path.join(root, 'sys', 'bus', 'pci', 'devices', address));
  } catch {
    return undefined;
  }
}

export function boundDriver(devDir: string): string | null {
  try {
    return path.basename(fs.readlinkSync(path.join(devDir, 'driver')));
  } catch {
    return null;
  }
}

export function linkDriver(root: string, devDir: string, address: string, driver: string): void {
  relLink(path.join(driversDir(root), driver), path.join(devDir, 'driver'));
  relLink(devDir, path.join(driversDir(root), driver, address));
  setUeventDriver(devDir, driver);
}

export function unlinkDriver(root: string, devDir: string, address: string): void {
  const driver = boundDriver(devDir);
  fs.rmSync(path.join(devDir, 'driver'), { force: true });
  if (driver !== null) fs.rmSync(path.join(driversDir(root), driver, address), { force: true });
  setUeventDriver(devDir, null);
}

/**
 * The kernel generates `uevent` when it is read, with DRIVER= while a driver is bound (dev_uevent); the
 * simulated tree stores it, so every bind and unbind rewrites that line. A tree made before vfioctl wrote
 * uevent files has none, and keeps none.
 */
function setUeventDriver(devDir: string, driver: string | null): void {
  const file = path.join(devDir, 'uevent');
  const text = readAttr(devDir, 'uevent');
  if (text === undefined) return;
  const rest = text.split('\n').filter((l) => !l.startsWith('DRIVER='));
  fs.writeFileSync(file, (driver === null ? rest : [`DRIVER=${driver}`, ...rest]).join('\n'));
}

export function readAttr(devDir: string, name: string): string | undefined {
  try {
    return fs.readFileSync(path.join(devDir, name), 'latin1');
  } catch {
    return undefined;
  }
}
