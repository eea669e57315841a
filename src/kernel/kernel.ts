import type { SysfsWrite } from '../host/layout.js';
import type { DriverName } from '../pci/driver.js';

/**
 * The write side of a host. Two implementations: LinuxKernel (plain sysfs writes on a real host) and
 * SimulatedKernel (the mock kernel of a materialized simulated host, which changes the tree as Linux would).
 * Both refuse any write outside the whitelist in src/host/layout.ts.
 */
export interface Kernel {
  readonly kind: 'linux' | 'simulated';
  /**
   * Performs one write. On failure throws a SysfsWriteError carrying the host path, the value and the
   * errno code (ENODEV, EBUSY, ...), as the kernel returned it.
   */
  write(w: SysfsWrite): void;
  /**
   * Makes a driver module available (modprobe on a real host; the simulated kernel "loads" it when its
   * host description says the module exists). Throws a VfioUnavailableError with the reason otherwise.
   */
  loadModule(name: DriverName): void;
  /**
   * Gives a /dev/vfio node (`node`, a host path: /dev/vfio/N, /dev/vfio/noiommu-N, /dev/vfio/devices/vfioN)
   * to uid:gid, and sets its permission bits when `mode` is given; never through a symlink. Throws the fs
   * error (its errno in `code`) as it comes.
   */
  chown(node: string, uid: number, gid: number, mode?: number): void;
  /**
   * Opens a VFIO group node (`node`, a host path: /dev/vfio/N or /dev/vfio/noiommu-N) read-write and closes it
   * at once, to learn whether another process holds the group, before an unbind from a vfio driver that would
   * block until that process lets go (docs/sysfs-semantics.md, "A group in use"). Returns null when the open
   * succeeded, else its errno: EBUSY when the group is held (the group fd, or a device cdev bound to iommufd),
   * ENOENT when there is no node. Writes nothing.
   */
  probeGroupNode(node: string): string | null;
  /** Writes performed by this process so far (for dry-run comparisons and tests). */
  readonly performed: readonly SysfsWrite[];
}

export class SysfsWriteError extends Error {
  constructor(
    readonly hostPath: string,
    readonly value: string,
    readonly errno: string,
  ) {
    super(`write of '${value.trim()}' to ${hostPath} failed: ${errno}`);
    this.name = 'SysfsWriteError';
  }
}

/** The /dev/vfio nodes Kernel.chown may change: group nodes and device cdevs, nothing else. */
export function isVfioNodePath(node: string): boolean {
  return /^\/dev\/vfio\/(?:(?:noiommu-)?[0-9]+|devices\/vfio[0-9]+)$/.test(node);
}

/** The group nodes Kernel.probeGroupNode may open: /dev/vfio/N and /dev/vfio/noiommu-N, nothing else. */
export function isVfioGroupNodePath(node: string): boolean {
  return /^\/dev\/vfio\/(?:noiommu-)?[0-9]+$/.test(node);
}
