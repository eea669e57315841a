import { VFIO_PCI, type DriverName } from '../pci/driver.js';
import type { PciDevice } from '../pci/device.js';

// Which vfio driver: the one place that knows. Planning, writing, verifying and restoring all ask here,
// so a variant driver (mlx5_vfio_pci, hisi_acc_vfio_pci, ...) counts wherever vfio-pci does.

/** vfio-pci itself and its variant drivers (mlx5_vfio_pci, hisi_acc_vfio_pci, ...). */
export function isVfioDriver(driver: string | null | undefined): boolean {
  return driver === VFIO_PCI || (typeof driver === 'string' && /[-_]vfio[-_]pci$/.test(driver));
}

/** A device a detach moves, and the vfio driver it moves to. */
export interface Move {
  dev: PciDevice;
  target: DriverName;
}

/** The vfio driver a detach binds this device to: vfio-pci today; a matching variant driver is for later. */
export function targetDriver(_dev: PciDevice): DriverName {
  return VFIO_PCI;
}
