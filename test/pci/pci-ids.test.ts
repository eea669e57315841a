import { afterEach, describe, expect, it } from 'vitest';
import { PciIds } from '../../src/pci/ids.js';
import { tempFile } from '../helpers/xml.js';

const IDS = `#
#	List of PCI ID's
#
# Vendors, devices and subsystems.
0001  SafeNet (wrong ID)
1000  Broadcom / LSI
	0001  53c810
		1000 1000  LSI53C810AE PCI to SCSI I/O Processor
	0014  MegaRAID Tri-Mode SAS3516
10de  NVIDIA Corporation
	1aef  GA102 High Definition Audio Controller
	2204  GA102 [GeForce RTX 3090]
10df  Emulex Corporation
	2204  not an NVIDIA device
15cf  Hilscher Gesellschaft für Systemautomation mbH
	0000  CIFX PCI/PCIe
1787  Hightech Information System Ltd.
	2020  R9 290X IceQ X² Turbo
8086  Intel Corporation
	1572  Ethernet Controller X710 for 10GbE SFP+
		8086 0007  Ethernet Converged Network Adapter X710-2
	154c  Ethernet Virtual Function 700 Series
ffff  Illegal Vendor ID
# List of known device classes
C 00  Unclassified device
	00  Non-VGA unclassified device
`;

describe('pci.ids names', () => {
  const saved = process.env.VFIOCTL_PCI_IDS;
  afterEach(() => {
    if (saved === undefined) delete process.env.VFIOCTL_PCI_IDS;
    else process.env.VFIOCTL_PCI_IDS = saved;
  });
  const ids = (): PciIds => {
    process.env.VFIOCTL_PCI_IDS = tempFile('pci.ids', IDS);
    return new PciIds('/nonexistent');
  };

  it.each([
    ['10de', '2204', { vendor: 'NVIDIA Corporation', device: 'GA102 [GeForce RTX 3090]' }],
    ['10de', '1aef', { vendor: 'NVIDIA Corporation', device: 'GA102 High Definition Audio Controller' }],
    ['10df', '2204', { vendor: 'Emulex Corporation', device: 'not an NVIDIA device' }],
    ['10de', '0014', { vendor: 'NVIDIA Corporation' }], // 0014 belongs to the vendor before, not to NVIDIA
    ['10df', '1aef', { vendor: 'Emulex Corporation' }], // nor may a lookup run into the vendor before
    ['8086', '154c', { vendor: 'Intel Corporation', device: 'Ethernet Virtual Function 700 Series' }],
    ['8086', '0007', { vendor: 'Intel Corporation' }], // a subsystem line is not a device line
    ['ffff', '0000', { vendor: 'Illegal Vendor ID' }], // the last vendor: its block ends at the class list
    ['1234', '11e8', {}],
    // pci.ids is UTF-8: names come out as written, not as Latin-1 mojibake ('fÃ¼r').
    ['15cf', '0000', { vendor: 'Hilscher Gesellschaft für Systemautomation mbH', device: 'CIFX PCI/PCIe' }],
    ['1787', '2020', { vendor: 'Hightech Information System Ltd.', device: 'R9 290X IceQ X² Turbo' }],
  ])('%s:%s', (vendor, device, want) => {
    expect(ids().names(vendor, device)).toEqual(want);
  });

  it("VFIOCTL_PCI_IDS='' turns names off", () => {
    process.env.VFIOCTL_PCI_IDS = '';
    expect(new PciIds('/').names('10de', '2204')).toEqual({});
  });
});
