import { PCIEPORT, PCI_STUB, VFIO_PCI, type DriverName } from '../pci/driver.js';
import type { PciDevice } from '../pci/device.js';
import type { KernelRules } from '../pci/kernel-rules.js';

/** vfio-pci itself and its variant drivers (mlx5_vfio_pci, hisi_acc_vfio_pci, ...). */
export function isVfioDriver(driver: DriverName | null): boolean {
  return driver === VFIO_PCI || (driver !== null && /[-_]vfio[-_]pci$/.test(driver));
}

/** Why this member keeps its group from being viable, or null when it does not. */
export function viabilityBlocker(dev: PciDevice, rules: KernelRules): string | null {
  const d = dev.driver;
  if (d === null || isVfioDriver(d) || d === PCI_STUB || d === PCIEPORT) return null;
  if (!rules.dmaOwnership && dev.isBridge) return null;
  return dev.isBridge
    ? `the bridge is bound to ${d}, which does not hand DMA ownership to VFIO (only pcieport does)`
    : `it is bound to the host driver ${d}`;
}

export interface Viability {
  viable: boolean;
  blockers: { dev: PciDevice; reason: string }[];
}

export function groupViability(members: PciDevice[], rules: KernelRules): Viability {
  const blockers = members.flatMap((dev) => {
    const reason = viabilityBlocker(dev, rules);
    return reason ? [{ dev, reason }] : [];
  });
  return { viable: blockers.length === 0, blockers };
}
