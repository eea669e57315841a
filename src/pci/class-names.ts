/**
 * Names of PCI classes (base class + subclass), as pci.ids and lspci print them. A short built-in table:
 * class names are stable and needed even on hosts without pci.ids.
 */
const NAMES: Record<string, string> = {
  '0000': 'Non-VGA unclassified device',
  '0001': 'VGA compatible unclassified device',
  '0100': 'SCSI storage controller',
  '0101': 'IDE interface',
  '0104': 'RAID bus controller',
  '0106': 'SATA controller',
  '0107': 'Serial Attached SCSI controller',
  '0108': 'Non-Volatile memory controller',
  '0180': 'Mass storage controller',
  '0200': 'Ethernet controller',
  '0207': 'Infiniband controller',
  '0280': 'Network controller',
  '0300': 'VGA compatible controller',
  '0301': 'XGA compatible controller',
  '0302': '3D controller',
  '0380': 'Display controller',
  '0400': 'Multimedia video controller',
  '0401': 'Multimedia audio controller',
  '0403': 'Audio device',
  '0480': 'Multimedia controller',
  '0500': 'RAM memory',
  '0580': 'Memory controller',
  '0600': 'Host bridge',
  '0601': 'ISA bridge',
  '0604': 'PCI bridge',
  '0607': 'CardBus bridge',
  '0680': 'Bridge',
  '0700': 'Serial controller',
  '0780': 'Communication controller',
  '0800': 'PIC',
  '0805': 'SD Host controller',
  '0806': 'IOMMU',
  '0880': 'System peripheral',
  '0c03': 'USB controller',
  '0c05': 'SMBus',
  '0c80': 'Serial bus controller',
  '1080': 'Encryption controller',
  '1101': 'Performance counters',
  '1180': 'Signal processing controller',
  '1200': 'Processing accelerators',
  'ff00': 'Unassigned class',
};
const BASE: Record<string, string> = {
  '01': 'Mass storage controller',
  '02': 'Network controller',
  '03': 'Display controller',
  '04': 'Multimedia controller',
  '06': 'Bridge',
  '0c': 'Serial bus controller',
};

export function className(cls: string): string {
  return NAMES[cls.slice(0, 4)] ?? BASE[cls.slice(0, 2)] ?? `Class ${cls.slice(0, 4)}`;
}
