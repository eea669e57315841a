import fs from 'node:fs';
import path from 'node:path';
import { isAbsent } from '../../errors.js';
import { confined } from './confined.js';
import { simDir } from './sim-state.js';
import { boundDriver, readAttr, unlinkDriver } from './sim-tree.js';
import { removeClassDevices } from './class-devices.js';

/**
 * pci_disable_sriov() as a PF driver's remove() calls it: igb_remove disables SR-IOV, and so does vfio-pci
 * when it lets go of a PF. Measured in the real-kernel guest (test/vm/README.md): unbinding igb from a PF
 * with two VFs (one of them on vfio-pci, not opened) removes both VFs, and sriov_numvfs reads 0. Only a
 * driver without a remove() leaves them (pci-pf-stub: the PCI core then just warns "driver left SR-IOV
 * enabled after remove").
 */
const KEEPS_VFS_ON_REMOVE = new Set(['pci-pf-stub']);

export function removeDisablesSriov(driver: string): boolean {
  return !KEEPS_VFS_ON_REMOVE.has(driver);
}

/**
 * The PF's VFs leave the tree: each VF's driver lets go, then the VF, its links and its IOMMU group entry go.
 * Every removal goes through the confined tree (confined.ts): a virtfn link swapped to point out of the root
 * is refused, not followed.
 */
export function removeVfs(root: string, pfDir: string): void {
  const tree = confined(root);
  const sys = path.join(root, 'sys');
  for (const link of fs.readdirSync(pfDir).filter((e) => /^virtfn[0-9]+$/.test(e))) {
    const vfDir = tree.realDir(path.join(pfDir, link));
    const address = path.basename(vfDir);
    const driver = boundDriver(vfDir);
    if (driver !== null) removeClassDevices(root, vfDir, address, driver);
    unlinkDriver(root, vfDir, address);
    tree.removeTree(path.join(simDir(root), 'parked', address));
    const group = groupDir(tree, vfDir);
    if (group !== null) {
      tree.unlink(path.join(group, 'devices', address));
      if (fs.readdirSync(path.join(group, 'devices')).length === 0) tree.removeTree(group);
    }
    tree.unlink(path.join(sys, 'bus', 'pci', 'devices', address));
    tree.removeTree(vfDir);
    tree.unlink(path.join(pfDir, link));
  }
  if (readAttr(pfDir, 'sriov_numvfs') !== undefined) tree.writeFile(path.join(pfDir, 'sriov_numvfs'), '0\n');
}

/** The real directory of a device's IOMMU group (inside the root), or null when it has none. */
function groupDir(tree: ReturnType<typeof confined>, devDir: string): string | null {
  try {
    return tree.realDir(path.join(devDir, 'iommu_group'));
  } catch (err) {
    if (isAbsent(err)) return null;
    throw err;
  }
}
