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
  return { dmaOwnership: releaseAtLeast(release, 5, 19) };
}

/**
 * Whether a kernel release (`uname -r`: `6.1.0-27-amd64`) is MAJOR.MINOR or later. A release that does not
 * start with MAJOR.MINOR counts as current: vfioctl then assumes today's kernel rather than an old one.
 */
export function releaseAtLeast(release: string | undefined, major: number, minor: number): boolean {
  const m = /^(\d+)\.(\d+)/.exec(release ?? '');
  if (!m) return true;
  const [relMajor, relMinor] = [Number(m[1]), Number(m[2])];
  return relMajor > major || (relMajor === major && relMinor >= minor);
}
