import { PCIEPORT, PCI_STUB } from '../host/layout.js';
import type { PciDevice } from '../pci/device.js';
import { isVfioDriver } from './vfio-driver.js';

/**
 * When may a VM open /dev/vfio/N? (sysfs-semantics.md, "Group viability"; drivers/vfio/group.c)
 * Kernels >= 5.19: every member is unbound, or bound to a driver that manages its own DMA ownership:
 * vfio-pci and its variant drivers, pci-stub, pcieport. Kernels <= 5.18: unbound, vfio, pci-stub, or any
 * device whose header type is not a normal endpoint (bridges), with any driver.
 */
export interface KernelRules {
  /** True on kernels >= 5.19 (DMA ownership rules). */
  dmaOwnership: boolean;
}

export function kernelRules(release: string | undefined): KernelRules {
  const m = /^(\d+)\.(\d+)/.exec(release ?? '');
  if (!m) return { dmaOwnership: true };
  const [major, minor] = [Number(m[1]), Number(m[2])];
  return { dmaOwnership: major > 5 || (major === 5 && minor >= 19) };
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
