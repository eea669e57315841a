import { describe, expect, it } from 'vitest';
import { loadHostDescription } from '../../src/mock/hosts.js';
import type { HostDescription } from '../../src/mock/description.js';
import { json, runBin } from '../helpers/cli.js';
import { useSimulatedHosts } from '../helpers/sim-host.js';
import { domainXml, tempFile } from '../helpers/xml.js';
import { drivers } from './persist-sim.js';
import { atKernelStart, simulatedBoot } from './reboot-sim.js';

// qemu-q35-iommu: IOMMU group 10 holds a PCIe-to-PCI bridge (0000:01:00.0) and the two e1000 behind it.
const NIC1 = '0000:02:01.0';
const NIC2 = '0000:02:02.0';
const simHost = useSimulatedHosts();
const Q35 = (): HostDescription => loadHostDescription('qemu-q35-iommu');

/** Persists a domain naming NIC1 with group='auto' on a fresh simulated host; returns that host's root. */
function persisted(desc: HostDescription, address = NIC1): string {
  const h = simHost(desc);
  const xml = tempFile('vm.xml', domainXml('vm', [{ address, group: 'auto' }]));
  expect(runBin(['persist', xml, '--root', h.root]).code).toBe(0);
  return h.root;
}

/** Every device's driver as the host description has it at boot, with some devices on vfio-pci. */
function expected(desc: HostDescription, held: string[]): Record<string, string | null> {
  return Object.fromEntries(atKernelStart(desc).devices.map((d) => [d.address, held.includes(d.address) ? 'vfio-pci' : desc.devices.find((x) => x.address === d.address)!.driver]));
}

describe('a simulated reboot after persist (udev coldplug through the rule on the simulated kernel)', () => {
  for (const modulesLoadFirst of [false, true]) {
    it(`the persisted group ends on vfio-pci and every other device on its host driver (vfio-pci loaded ${modulesLoadFirst ? 'before' : 'after'} the coldplug); verify exits 0`, () => {
      const desc = Q35();
      const boot = simulatedBoot(simHost, desc, persisted(desc), { modulesLoadFirst });
      expect(drivers(boot.root)).toEqual(expected(desc, [NIC1, NIC2]));
      expect(boot.kmsg).toEqual([]);
      const v = runBin(['persist', '--verify', '--json', '--root', boot.root]);
      expect(v.code).toBe(0);
      expect(json(v).devices.map((d: any) => d.state)).toEqual(['held', 'held']);
    });
  }

  it("a driver loaded for an earlier device with the same driver does not take the persisted one (the lone e1000e after 0000:00:05.0's)", () => {
    const desc = Q35();
    const boot = simulatedBoot(simHost, desc, persisted(desc, '0000:03:00.0'), { modulesLoadFirst: false });
    expect(drivers(boot.root)).toEqual(expected(desc, ['0000:03:00.0']));
    expect(runBin(['persist', '--verify', '--root', boot.root]).code).toBe(0);
  });

  it('another card at a persisted address is left to its driver, logged, and verify exits 14 naming it', () => {
    const desc = Q35();
    const boot = simulatedBoot(simHost, desc, persisted(desc), {
      modulesLoadFirst: false,
      edit: (d) => {
        d.devices.find((x) => x.address === NIC2)!.device = '100f'; // 82544GC, also an e1000
        d.drivers.find((x) => x.name === 'e1000')!.ids.push({ vendor: '8086', device: '100f' });
      },
    });
    expect([drivers(boot.root)[NIC1], drivers(boot.root)[NIC2]]).toEqual(['vfio-pci', 'e1000']);
    expect(boot.kmsg).toEqual([`vfioctl: ${NIC2} is 0x8086:0x100f subsystem 0x1af4:0x1100, not the persisted 0x8086:0x100e subsystem 0x1af4:0x1100, so it was left to its driver`]);
    const v = runBin(['persist', '--verify', '--root', boot.root]);
    expect(v.code).toBe(14);
    expect(v.stderr).toContain(`${NIC2}: the device there is 8086:100f (subsystem 1af4:1100), not the persisted 8086:100e (subsystem 1af4:1100)`);
  });

  it('a host driver built into the kernel binds before udev: the rule cannot help, persist said so, verify exits 14', () => {
    const desc = Q35();
    desc.drivers.find((x) => x.name === 'e1000')!.module = null;
    const root = persisted(desc);
    expect(json(runBin(['persist', '--list', '--json', '--root', root])).devices).toHaveLength(2);
    const boot = simulatedBoot(simHost, desc, root, { modulesLoadFirst: true });
    expect([drivers(boot.root)[NIC1], drivers(boot.root)[NIC2]]).toEqual(['e1000', 'e1000']);
    const v = runBin(['persist', '--verify', '--root', boot.root]);
    expect(v.code).toBe(14);
    expect(v.stderr).toContain(`${NIC1}: on its host driver e1000, not vfio-pci`);
  });
});
