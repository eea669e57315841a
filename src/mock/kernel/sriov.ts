import fs from 'node:fs';
import path from 'node:path';
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

/** The PF's VFs leave the tree: each VF's driver lets go, then the VF, its links and its IOMMU group entry go. */
export function removeVfs(root: string, pfDir: string): void {
  const sys = path.join(root, 'sys');
  for (const link of fs.readdirSync(pfDir).filter((e) => /^virtfn[0-9]+$/.test(e))) {
    const vfDir = fs.realpathSync.native(path.join(pfDir, link));
    const address = path.basename(vfDir);
    const driver = boundDriver(vfDir);
    if (driver !== null) removeClassDevices(root, vfDir, address, driver);
    unlinkDriver(root, vfDir, address);
    fs.rmSync(path.join(simDir(root), 'parked', address), { recursive: true, force: true });
    let group: string | null = null;
    try {
      group = fs.realpathSync.native(path.join(vfDir, 'iommu_group'));
    } catch {
      group = null;
    }
    if (group !== null) {
      fs.rmSync(path.join(group, 'devices', address), { force: true });
      if (fs.readdirSync(path.join(group, 'devices')).length === 0) fs.rmSync(group, { recursive: true, force: true });
    }
    fs.rmSync(path.join(sys, 'bus', 'pci', 'devices', address), { force: true });
    fs.rmSync(vfDir, { recursive: true, force: true });
    fs.rmSync(path.join(pfDir, link), { force: true });
  }
  if (readAttr(pfDir, 'sriov_numvfs') !== undefined) fs.writeFileSync(path.join(pfDir, 'sriov_numvfs'), '0\n');
}
