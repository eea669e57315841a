import type { DeviceUse } from '../host/usage.js';
import type { PciDevice } from '../pci/device.js';
import { isVfioDriver } from './vfio-driver.js';
import { PCI_STUB } from '../host/layout.js';

/**
 * Why the host needs a device: the reasons vfioctl refuses to take it away without --force
 * ("The host survives" in DEVELOPERS.md). Empty when the host can spare it.
 */
export function hostNeeds(dev: PciDevice, use: DeviceUse): string[] {
  const reasons: string[] = [];
  const sequestered = dev.driver === null || isVfioDriver(dev.driver) || dev.driver === PCI_STUB;
  if (dev.bootVga && !sequestered) {
    reasons.push(`it is the boot GPU (boot_vga=1) driven by ${dev.driver}: the host's console runs on it`);
  }
  for (const n of use.net) {
    if (!n.up) continue;
    if (n.defaultRoute) reasons.push(`its interface ${n.name} is up and carries the host's default route`);
    else if (n.routes > 0 || n.addresses) reasons.push(`its interface ${n.name} is up with addresses and routes`);
  }
  for (const b of use.block) {
    if (b.mountpoint !== undefined) reasons.push(`it holds ${b.device}, mounted at ${b.mountpoint}`);
    if (b.swap) reasons.push(`it holds ${b.device}, in use as swap`);
  }
  return reasons;
}
