import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadHostDescription } from '../../src/mock/hosts.js';
import type { HostDescription } from '../../src/mock/description.js';
import { json, runBin } from '../helpers/cli.js';
import { useSimulatedHosts } from '../helpers/sim-host.js';
import { domainXml, tempFile } from '../helpers/xml.js';

// qemu-q35-iommu: group 10 holds two e1000 behind a bridge (0000:02:01.0, 0000:02:02.0); group 11 is one
// e1000e (0000:03:00.0, 8086:10d3, subsystem 8086:0000).
const NIC1 = '0000:02:01.0';
const NIC2 = '0000:02:02.0';
const LONE = '0000:03:00.0';
const simHost = useSimulatedHosts();
const vmA = (): string => tempFile('vm-a.xml', domainXml('vm-a', [{ address: NIC1, group: 'auto' }]));
const vmB = (): string => tempFile('vm-b.xml', domainXml('vm-b', [{ address: LONE, group: 'auto' }]));

function persistAll(root: string, ...files: string[]): void {
  for (const f of files) expect(runBin(['persist', f, '--root', root]).code).toBe(0);
}

/** The persisted host booted again with other hardware: its etc/ on a host made from an edited description. */
function rebootedWith(root: string, edit: (d: HostDescription) => void): string {
  const desc = loadHostDescription('qemu-q35-iommu');
  edit(desc);
  const h = simHost({ ...desc, name: 'edited' });
  fs.cpSync(path.join(root, 'etc'), path.join(h.root, 'etc'), { recursive: true, verbatimSymlinks: true });
  return h.root;
}

describe('vfioctl persist --verify', () => {
  it('passes when every persisted group is on vfio-pci (after vfioctl detach)', () => {
    const h = simHost('qemu-q35-iommu');
    const a = vmA();
    const b = vmB();
    persistAll(h.root, a, b);
    for (const f of [a, b]) expect(runBin(['detach', f, '--root', h.root]).code).toBe(0);
    const r = runBin(['persist', '--verify', '--root', h.root]);
    expect(r).toMatchObject({ code: 0, stderr: '' });
    expect(r.stdout).toBe(
      `${NIC1}: on vfio-pci (IOMMU group 10)\n${NIC2}: on vfio-pci (IOMMU group 10)\n${LONE}: on vfio-pci (IOMMU group 11)\nEvery persisted group is viable, with its 3 persisted devices on vfio-pci.\n`,
    );
    const j = json(runBin(['persist', '--verify', '--json', '--root', h.root]));
    expect(j).toMatchObject({ ok: true, exitCode: 0, problems: [], groups: [{ group: 10, viable: true, inTheWay: [] }, { group: 11, viable: true, inTheWay: [] }] });
  });

  it('fails with exit 14 naming a persisted device that is on its host driver', () => {
    const h = simHost('qemu-q35-iommu');
    const a = vmA();
    persistAll(h.root, a, vmB());
    expect(runBin(['detach', a, '--root', h.root]).code).toBe(0);
    const r = runBin(['persist', '--verify', '--root', h.root]);
    expect(r.code).toBe(14);
    expect(r.stderr.split('\n')).toEqual([
      expect.stringMatching(/^vfioctl: 0000:03:00\.0: on its host driver e1000e, not vfio-pci \(IOMMU group 11, persisted from .*vm-b\.xml\)\. `vfioctl detach .*vm-b\.xml` moves it now;/),
      'vfioctl: persist --verify: 1 problem; the persisted groups are not all held on vfio-pci.',
      '',
    ]);
    const j = json(runBin(['persist', '--verify', '--json', '--root', h.root]));
    expect(j.ok).toBe(false);
    expect(j.exitCode).toBe(14);
    expect(j.devices.map((d: any) => [d.address, d.state, d.driver])).toEqual([
      [NIC1, 'held', 'vfio-pci'],
      [NIC2, 'held', 'vfio-pci'],
      [LONE, 'host-driver', 'e1000e'],
    ]);
  });

  it("names a member that was not persisted when it keeps a group='manual' group from being viable", () => {
    const h = simHost('qemu-q35-iommu');
    const a = vmA();
    expect(runBin(['detach', a, '--root', h.root]).code).toBe(0); // both NICs on vfio-pci: manual NIC1 is viable
    const manual = tempFile('vm-m.xml', domainXml('vm-m', [{ address: NIC1, group: 'manual' }]));
    persistAll(h.root, manual);
    expect(runBin(['reattach', '--all', '--force', '--root', h.root]).code).toBe(0); // a reboot: both on e1000 again (NIC1 is persisted: --force)
    const j = json(runBin(['persist', '--verify', '--json', '--root', h.root]));
    expect(j.groups).toEqual([{ group: 10, viable: false, inTheWay: [NIC2] }]);
    expect(j.problems).toEqual([
      expect.stringMatching(/^0000:02:01\.0: on its host driver e1000, not vfio-pci/),
      "IOMMU group 10 is not viable: 0000:02:02.0 (on e1000, not persisted) in the way. Persist the domain with group='auto' to hold the whole group.",
    ]);
  });

  it('says when the card at a persisted address has other IDs, or is gone', () => {
    const h = simHost('qemu-q35-iommu');
    persistAll(h.root, vmB());
    const swapped = rebootedWith(h.root, (d) => {
      const dev = d.devices.find((x) => x.address === LONE)!;
      dev.device = '10d4';
    });
    const r = runBin(['persist', '--verify', '--root', swapped]);
    expect(r.code).toBe(14);
    expect(r.stderr).toContain(
      'vfioctl: 0000:03:00.0: the device there is 8086:10d4 (subsystem 8086:0000), not the persisted 8086:10d3 (subsystem 8086:0000), so the rule left it alone (IOMMU group 11, persisted from',
    );
    const gone = rebootedWith(h.root, (d) => {
      d.devices = d.devices.filter((x) => x.address !== LONE);
    });
    const g = json(runBin(['persist', '--verify', '--json', '--root', gone]));
    expect(g.devices).toEqual([{ address: LONE, group: 11, state: 'missing', driver: null }]);
    expect(g.problems).toEqual([expect.stringMatching(/^0000:03:00\.0: missing: there is no PCI device at this address now \(8086:10d3 \(subsystem 8086:0000\), IOMMU group 11, persisted from /)]);
  });

  it('with nothing persisted, passes and says so', () => {
    const h = simHost('qemu-q35-iommu');
    expect(runBin(['persist', '--verify', '--root', h.root])).toMatchObject({ code: 0, stdout: 'Nothing is persisted on this host.\n', stderr: '' });
  });
});
