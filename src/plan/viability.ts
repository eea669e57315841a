import { PCIEPORT, PCI_STUB } from '../pci/driver.js';
import type { PciDevice } from '../pci/device.js';
import type { KernelRules } from '../pci/kernel-rules.js';
import { isVfioDriver } from './vfio-driver.js';

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
  const blockers: Viability['blockers'] = [];
  for (const dev of members) {
    const reason = viabilityBlocker(dev, rules);
    if (reason) blockers.push({ dev, reason });
  }
  return { viable: blockers.length === 0, blockers };
}
