/**
 * When may a VM open /dev/vfio/N? (docs/sysfs-semantics.md, "When a group is viable"; drivers/vfio/group.c)
 * Kernels >= 5.19: every member is unbound, or bound to a driver that manages its own DMA ownership:
 * vfio-pci and its variant drivers, pci-stub, pcieport. Kernels <= 5.18: unbound, vfio, pci-stub, or any
 * device whose header type is not a normal endpoint (bridges), with any driver.
 *
 * A fact of the kernel release, read by src/host/host.ts and applied by the planner (src/plan/viability.ts).
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
