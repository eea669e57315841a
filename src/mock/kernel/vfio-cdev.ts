import fs from 'node:fs';
import path from 'node:path';
import { releaseAtLeast } from '../../pci/kernel-rules.js';
import { confined } from './confined.js';

// vfio_device_add() makes DEV/vfio-dev/vfioN (N the lowest free minor of the vfio-dev class) when a vfio driver
// binds the device, and vfio_device_del() removes it on unbind: from Linux 6.1 on, whatever the configuration.
// Only a kernel with CONFIG_VFIO_DEVICE_CDEV gives it a device number (DEV/vfio-dev/vfioN/dev) and so the node
// /dev/vfio/devices/vfioN (devtmpfs); Debian's 6.1 makes the directory without `dev` (seen in test:vm).

const isVfio = (driver: string): boolean => driver === 'vfio-pci' || /[-_]vfio[-_]pci$/.test(driver);

/** Every vfioN in use on the host, read from the device directories. */
function usedMinors(root: string): Set<number> {
  const used = new Set<number>();
  const bus = path.join(root, 'sys', 'bus', 'pci', 'devices');
  for (const a of fs.readdirSync(bus)) {
    let entries: string[] = [];
    try {
      entries = fs.readdirSync(path.join(bus, a, 'vfio-dev'));
    } catch {
      continue;
    }
    for (const e of entries) if (/^vfio[0-9]+$/.test(e)) used.add(Number(e.slice(4)));
  }
  return used;
}

/** Whether this kernel makes DEV/vfio-dev/vfioN at all (6.1 and later, or any kernel described with the cdev). */
export function makesVfioDev(kernel: { release: string; vfioDeviceCdev?: boolean }): boolean {
  return kernel.vfioDeviceCdev === true || releaseAtLeast(kernel.release, 6, 1);
}

/** After a bind: a vfio driver gets the device its DEV/vfio-dev/vfioN, with a device number when the kernel has the cdev. */
export function addVfioCdev(root: string, devDir: string, driver: string, kernel: { release: string; vfioDeviceCdev?: boolean }): void {
  if (!isVfio(driver) || !makesVfioDev(kernel)) return;
  const used = usedMinors(root);
  let n = 0;
  while (used.has(n)) n++;
  const tree = confined(root);
  tree.mkdirs(path.join(devDir, 'vfio-dev', `vfio${n}`));
  if (kernel.vfioDeviceCdev) tree.writeFile(path.join(devDir, 'vfio-dev', `vfio${n}`, 'dev'), `511:${n}\n`, 0o444);
}

/** Before an unbind: the device's cdev goes. */
export function removeVfioCdev(root: string, devDir: string): void {
  if (fs.existsSync(path.join(devDir, 'vfio-dev'))) confined(root).removeTree(path.join(devDir, 'vfio-dev'));
}
