import { NotFoundError } from '../errors.js';
import type { HostReader } from '../host/reader.js';
import { addressFromParts, formatAddress, formatSlot, LIMITS, type DeviceSpec } from '../pci/address.js';
import type { PciDevice } from '../pci/device.js';

/**
 * The host's devices a DeviceSpec names (src/pci/address.ts parseDeviceSpec): one function, every function of a
 * slot that exists, or the PCI function behind a network interface (sys/class/net/IF/device, read by the host
 * layer). Nothing found is a NotFoundError that says what was looked for.
 */
export function devicesOf(spec: DeviceSpec, reader: HostReader): PciDevice[] {
  if (spec.type === 'function') return [reader.device(spec.address)];
  if (spec.type === 'slot') {
    const { domain, bus, slot } = spec.address;
    const found: PciDevice[] = [];
    for (let fn = 0; fn <= LIMITS.function; fn++) {
      const dev = reader.tryDevice(addressFromParts(domain, bus, slot, fn));
      if (dev) found.push(dev);
    }
    if (found.length === 0) throw new NotFoundError(`No PCI device in slot ${formatSlot(spec.address)} on this host.`, '`vfioctl list` shows the devices there are.');
    return found;
  }
  const addr = reader.interfaceDevice(spec.dev);
  if (addr === undefined) throw new NotFoundError(`There is no network interface '${spec.dev}' on this host.`, '`ip link` lists the interfaces; or give a PCI address.');
  if (addr === null) throw new NotFoundError(`The network interface '${spec.dev}' is not a PCI device (it has no PCI function behind it).`);
  const dev = reader.tryDevice(addr);
  if (!dev) throw new NotFoundError(`The network interface '${spec.dev}' points at ${formatAddress(addr)}, which is not on the PCI bus.`);
  return [dev];
}
