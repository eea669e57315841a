import { parseAddress } from '../../src/pci/address.js';
import { isBridgeFunction, type PciDevice } from '../../src/pci/device.js';
import type { DriverName } from '../../src/pci/driver.js';

/** A PciDevice value for pure planner tests (no filesystem). */
export function fakeDevice(name: string, over: Partial<Omit<PciDevice, 'address' | 'name'>> = {}): PciDevice {
  const cls = over.class ?? '020000';
  const headerType = over.headerType ?? (cls.startsWith('0604') ? 1 : 0);
  return {
    address: parseAddress(name),
    name,
    vendor: '8086',
    device: '10d3',
    subsystemVendor: null,
    subsystemDevice: null,
    class: cls,
    headerType,
    isBridge: isBridgeFunction(cls, headerType),
    driver: null,
    driverOverride: null,
    overrideSupported: true,
    bootVga: false,
    iommuGroup: 1,
    physfn: null,
    virtfns: [],
    netInterfaces: [],
    ...over,
  };
}

export const drv = (name: string): DriverName => name as DriverName;
