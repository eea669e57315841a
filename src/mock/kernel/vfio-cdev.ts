import fs from 'node:fs';
import path from 'node:path';
import { confined } from './confined.js';

// The vfio device cdev (kernels >= 6.2 with CONFIG_VFIO_DEVICE_CDEV): vfio_device_add() makes DEV/vfio-dev/vfioN
// (N the lowest free minor of the vfio-dev class) when a vfio driver binds the device, and vfio_device_del()
// removes it on unbind. The node itself is /dev/vfio/devices/vfioN, made by devtmpfs.

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

/** After a bind: a vfio driver gets the device its DEV/vfio-dev/vfioN. */
export function addVfioCdev(root: string, devDir: string, driver: string): void {
  if (!isVfio(driver)) return;
  const used = usedMinors(root);
  let n = 0;
  while (used.has(n)) n++;
  const tree = confined(root);
  tree.mkdirs(path.join(devDir, 'vfio-dev', `vfio${n}`));
  tree.writeFile(path.join(devDir, 'vfio-dev', `vfio${n}`, 'dev'), `511:${n}\n`, 0o444);
}

/** Before an unbind: the device's cdev goes. */
export function removeVfioCdev(root: string, devDir: string): void {
  if (fs.existsSync(path.join(devDir, 'vfio-dev'))) confined(root).removeTree(path.join(devDir, 'vfio-dev'));
}
