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
  /** A PCI-to-PCI or CardBus bridge: header type 1 or 2 (the class only without config space; isBridgeFunction). */
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
  /** DEV/reset_method as read (null: no such file); undefined when not read (src/host/reset.ts reads it then). */
  resetMethod?: string | null;
  /** DEV/reset exists (looked at only when reset_method does not). */
  resetFile?: boolean;
}

/**
 * A PCI-to-PCI or CardBus bridge as the kernel tells one: by its header type, 1 or 2 (pci_is_bridge()). The
 * header type decides what the kernel does with it: vfio-pci refuses a function whose header type is not 0,
 * and kernels before 5.19 let such a function keep any driver in a viable group (vfio_dev_driver_allowed()),
 * so a function of class 0604 with header type 0 is an endpoint in both eras. The class (0604, 0607) decides
 * only when config space could not be read.
 */
export function isBridgeFunction(cls: string, headerType: number | null): boolean {
  if (headerType !== null) return headerType === 1 || headerType === 2;
  return cls.startsWith('0604') || cls.startsWith('0607');
}

export const isVgaClass = (cls: string): boolean => cls.startsWith('0300');
