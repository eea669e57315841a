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
