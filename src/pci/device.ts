import type { PciAddress } from './address.js';
import type { DriverName } from './driver.js';

/**
 * One PCI function as sysfs shows it, read once and passed around (libvirt's virPCIDevice).
 * Built by src/host/reader.ts; everything else only reads it.
 */
export interface PciDevice {
  address: PciAddress;
  /** The canonical `0000:01:00.0`, kept beside the parsed form for output. */
  name: string;
  vendor: string; // 4 hex digits, lowercase
  device: string;
  subsystemVendor: string | null;
  subsystemDevice: string | null;
  class: string; // 6 hex digits
  /** Config-space header type without the multifunction bit; null when config is unreadable. */
  headerType: number | null;
  /** A PCI-to-PCI or CardBus bridge (class 0604/0607 or header type 1/2). */
  isBridge: boolean;
  driver: DriverName | null;
  /** null when unset (`(null)`), or when the kernel has no driver_override (see overrideSupported). */
  driverOverride: DriverName | null;
  overrideSupported: boolean;
  /** boot_vga = 1: the firmware's console GPU. */
  bootVga: boolean;
  iommuGroup: number | null;
  /** SR-IOV relations. */
  physfn: PciAddress | null;
  virtfns: PciAddress[];
  /** Network interfaces of this function (names from DEV/net). */
  netInterfaces: string[];
}

/** PCI class 0x0604 (PCI-to-PCI bridge) and 0x0607 (CardBus bridge); header types 1 and 2. */
export function isBridgeClass(cls: string, headerType: number | null): boolean {
  return cls.startsWith('0604') || cls.startsWith('0607') || headerType === 1 || headerType === 2;
}

export const isVgaClass = (cls: string): boolean => cls.startsWith('0300');
