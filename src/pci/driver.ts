/** A driver name as found in sysfs (the basename of a `driver` link) or in a journal. */
export type DriverName = string & { readonly __brand: 'DriverName' };

// Kernel driver names are C identifiers with '-' (vfio-pci, ehci-pci, snd_hda_intel, xhci_hcd, pcieport).
const DRIVER_NAME = /^[A-Za-z0-9_][A-Za-z0-9_.+-]{0,63}$/;

export function isDriverName(text: string): text is DriverName {
  return DRIVER_NAME.test(text);
}

export const VFIO_PCI = 'vfio-pci' as DriverName;
export const PCI_STUB = 'pci-stub' as DriverName;
export const PCIEPORT = 'pcieport' as DriverName;
