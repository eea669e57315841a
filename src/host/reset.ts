import type { PciDevice } from '../pci/device.js';
import { releaseAtLeast } from '../pci/kernel-rules.js';
import type { HostReader } from './reader.js';

/** How the kernel can reset a function (the JSON shape of `reset` in list and group-info, README). */
export interface ResetReport {
  /** The kernel has a reset method for it: DEV/reset exists. */
  resettable: boolean;
  /** DEV/reset_method, in the kernel's order of preference (flr, af_flr, pm, bus, cxl_bus, device_specific, acpi); null before 5.15, which has no such file. */
  methods: string[] | null;
}

/**
 * Reads DEV/reset_method (kernels >= 5.15). The kernel shows it and DEV/reset exactly when the function has a
 * method (pci_reset_supported: reset_method_attr_is_visible, reset_attr_is_visible), so on those kernels one
 * read answers both; older kernels have only `reset`, whose presence is looked at.
 */
export function readReset(reader: HostReader, dev: PciDevice, release: string | undefined): ResetReport {
  const text = dev.resetMethod === undefined ? reader.deviceText(dev.address, 'reset_method') : (dev.resetMethod ?? undefined);
  if (text !== undefined) {
    const methods = text.trim().split(/\s+/).filter((m) => m.length > 0);
    return { resettable: methods.length > 0, methods };
  }
  if (releaseAtLeast(release, 5, 15)) return { resettable: false, methods: [] };
  return { resettable: dev.resetFile ?? reader.deviceHas(dev.address, 'reset'), methods: null };
}
