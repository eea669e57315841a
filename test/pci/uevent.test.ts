import { describe, expect, it } from 'vitest';
import { formatPciUevent, parsePciUevent } from '../../src/pci/uevent.js';

// Lines as Linux 6.1 prints them (drivers/pci/pci-driver.c pci_uevent), taken from real hosts.
const IGBVF = [
  'DRIVER=iavf',
  'PCI_CLASS=20000',
  'PCI_ID=8086:154C',
  'PCI_SUBSYS_ID=8086:0000',
  'PCI_SLOT_NAME=0000:3b:02.0',
  'MODALIAS=pci:v00008086d0000154Csv00008086sd00000000bc02sc00i00',
  '',
].join('\n');
const XHCI = [
  'PCI_CLASS=C0330',
  'PCI_ID=1B21:2142',
  'PCI_SUBSYS_ID=1043:8756',
  'PCI_SLOT_NAME=0000:05:00.0',
  'MODALIAS=pci:v00001B21d00002142sv00001043sd00008756bc0Csc03i30',
  '',
].join('\n');

describe('a PCI uevent file', () => {
  it('is written as the kernel prints it: class without padding past four digits, IDs in upper case, DRIVER= only when bound', () => {
    expect(formatPciUevent({ driver: 'iavf', vendor: '8086', device: '154c', subsystemVendor: '8086', subsystemDevice: '0000', class: '020000', slot: '0000:3b:02.0' })).toBe(IGBVF);
    expect(formatPciUevent({ driver: null, vendor: '1b21', device: '2142', subsystemVendor: '1043', subsystemDevice: '8756', class: '0c0330', slot: '0000:05:00.0' })).toBe(XHCI);
  });

  it('reads back as vfioctl spells IDs (lower case, the class in six digits), with the bound driver or null', () => {
    expect(parsePciUevent(IGBVF)).toEqual({ driver: 'iavf', vendor: '8086', device: '154c', subsystemVendor: '8086', subsystemDevice: '0000', class: '020000' });
    expect(parsePciUevent(XHCI)).toEqual({ driver: null, vendor: '1b21', device: '2142', subsystemVendor: '1043', subsystemDevice: '8756', class: '0c0330' });
    // A host bridge: class 060000 prints as 60000.
    expect(parsePciUevent('PCI_CLASS=60000\nPCI_ID=8086:29C0\nPCI_SUBSYS_ID=1AF4:1100\n')?.class).toBe('060000');
  });

  it.each([
    ['a line missing', 'PCI_CLASS=20000\nPCI_ID=8086:154C\n'],
    ['an ID that is not hex', 'PCI_CLASS=20000\nPCI_ID=80z6:154C\nPCI_SUBSYS_ID=8086:0000\n'],
    ['a class too long', 'PCI_CLASS=1020000\nPCI_ID=8086:154C\nPCI_SUBSYS_ID=8086:0000\n'],
    ['a short ID', 'PCI_CLASS=20000\nPCI_ID=86:154C\nPCI_SUBSYS_ID=8086:0000\n'],
    ['nothing', ''],
  ])('with %s is not used (the separate files are read instead)', (_l, text) => {
    expect(parsePciUevent(text)).toBeUndefined();
  });
});
