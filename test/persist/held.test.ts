import { describe, expect, it } from 'vitest';
import { json, runBin } from '../helpers/cli.js';
import { simulatedWrites, useSimulatedHosts } from '../helpers/sim-host.js';
import { domainXml, tempFile } from '../helpers/xml.js';
import { drivers } from './persist-sim.js';

// qemu-q35-iommu: IOMMU group 10 holds a PCIe-to-PCI bridge and two e1000 NICs behind it.
const NIC1 = '0000:02:01.0';
const NIC2 = '0000:02:02.0';
const simHost = useSimulatedHosts();
const vmA = (): string => tempFile('vm-a.xml', domainXml('vm-a', [{ address: NIC1, group: 'auto' }]));

describe('detach and reattach of persisted devices', () => {
  it('detach of persisted devices already on vfio-pci writes nothing and says "persisted"', () => {
    const h = simHost('qemu-q35-iommu');
    const xml = vmA();
    expect(runBin(['persist', xml, '--root', h.root]).code).toBe(0);
    // Before: detach moves them, and says they are persisted, put where the boot would.
    const first = runBin(['detach', xml, '--root', h.root]);
    expect(first.code).toBe(0);
    expect(first.stdout).toContain(`note: ${NIC1} is persisted (from ${xml} (domain 'vm-a')) but was on e1000: detach puts it where the boot would.`);
    const writes = simulatedWrites(h.root).length;
    const again = json(runBin(['detach', xml, '--json', '--root', h.root]));
    expect(again.changed).toBe(false);
    expect(again.notes).toEqual([
      'Nothing to do: every device is already on vfio-pci.',
      `${NIC1} is persisted (on vfio-pci from boot, from ${xml} (domain 'vm-a')): nothing to do.`,
      `${NIC2} is persisted (on vfio-pci from boot, from ${xml} (domain 'vm-a')): nothing to do.`,
    ]);
    expect(simulatedWrites(h.root).length).toBe(writes);
  });

  it('reattach of persisted devices is refused (exit 6) with no write, naming unpersist; --force gives them back', () => {
    const h = simHost('qemu-q35-iommu');
    const xml = vmA();
    expect(runBin(['persist', xml, '--root', h.root]).code).toBe(0);
    expect(runBin(['detach', xml, '--root', h.root]).code).toBe(0);
    const writes = simulatedWrites(h.root).length;
    for (const args of [['reattach', xml], ['reattach', xml, '--dry-run'], ['reattach', '--all']]) {
      const r = runBin([...args, '--root', h.root]);
      expect(r.code, args.join(' ')).toBe(6);
      expect(r.stderr).toBe(
        `vfioctl: Not reattaching: ${NIC1}, ${NIC2} are persisted (held on vfio-pci from boot, from ${xml} (domain 'vm-a')); nothing was written.\n` +
          `  Run \`vfioctl unpersist ${xml}\` first, then reattach; or reattach --force to give them back until the next boot, when the udev rule holds them again.\n`,
      );
    }
    expect(simulatedWrites(h.root).length).toBe(writes);
    expect([drivers(h.root)[NIC1], drivers(h.root)[NIC2]]).toEqual(['vfio-pci', 'vfio-pci']);

    const forced = runBin(['reattach', xml, '--force', '--root', h.root]);
    expect(forced.code).toBe(0);
    expect([drivers(h.root)[NIC1], drivers(h.root)[NIC2]]).toEqual(['e1000', 'e1000']);
  });

  it('after unpersist, reattach gives them back without --force', () => {
    const h = simHost('qemu-q35-iommu');
    const xml = vmA();
    runBin(['persist', xml, '--root', h.root]);
    runBin(['detach', xml, '--root', h.root]);
    expect(runBin(['unpersist', xml, '--root', h.root]).code).toBe(0);
    expect(runBin(['reattach', xml, '--root', h.root]).code).toBe(0);
    expect([drivers(h.root)[NIC1], drivers(h.root)[NIC2]]).toEqual(['e1000', 'e1000']);
  });

  it('a reattach that gives back no persisted device is not refused', () => {
    const h = simHost('qemu-q35-iommu');
    runBin(['persist', vmA(), '--root', h.root]);
    // The single-device group 0000:03:00.0 (e1000e) is not persisted.
    const solo = tempFile('solo.xml', domainXml('solo', [{ address: '0000:03:00.0', group: 'auto' }]));
    expect(runBin(['detach', solo, '--root', h.root]).code).toBe(0);
    expect(runBin(['reattach', solo, '--root', h.root]).code).toBe(0);
    expect(drivers(h.root)['0000:03:00.0']).toBe('e1000e');
  });
});
