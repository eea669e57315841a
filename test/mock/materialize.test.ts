import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { InputError } from '../../src/errors.js';
import { Host } from '../../src/host/host.js';
import type { HostDescription } from '../../src/mock/description.js';
import { listBundledHosts, loadHostDescription } from '../../src/mock/hosts.js';
import { materializeHost } from '../../src/mock/materialize.js';
import { snapshotHost } from '../../src/mock/snapshot.js';
import { useSimulatedHosts } from '../helpers/sim-host.js';
import { tinyHost } from '../helpers/tiny-host.js';

const sim = useSimulatedHosts();

/** A description with the defaults a snapshot makes explicit (revision 00, boot_vga 0 on VGA devices), in address order. */
function canonical(desc: HostDescription): Omit<HostDescription, 'summary'> {
  const rest: Partial<HostDescription> & Omit<HostDescription, 'summary'> = structuredClone(desc);
  delete rest.summary;
  rest.devices = rest.devices
    .map((d) => {
      const out = { ...d, revision: d.revision ?? '00' };
      if (!out.multifunction) delete out.multifunction;
      // Names come from whatever pci.ids the machine running the test has (test/cli/snapshot-names.test.ts covers them).
      delete out.vendorName;
      delete out.deviceName;
      if (d.class.startsWith('0300')) out.bootVga = d.bootVga ?? false;
      return out;
    })
    .sort((a, b) => (a.address < b.address ? -1 : 1));
  return rest;
}

const bundled = listBundledHosts().map((h) => h.name);
const cases: [string, HostDescription][] = [['tiny (inline)', tinyHost()], ['tiny with a variant driver (inline)', tinyHost({ variant: true })], ...bundled.map((n) => [n, loadHostDescription(n)] as [string, HostDescription])];

describe('materialized hosts read back as their description', () => {
  it('there are bundled hosts for the situations users meet', () => {
    expect(bundled).toEqual(expect.arrayContaining(['workstation', 'sriov-server', 'pci-bridge', 'iommu-off', 'no-vfio']));
  });

  it.each(cases)('%s: snapshot of the materialized tree equals the description', (_n, desc) => {
    const h = sim(desc);
    expect(canonical(snapshotHost(new Host(h.root), desc.name))).toEqual(canonical(desc));
  });

  it.each(cases)('%s: mock create of a snapshot, snapshotted again, is identical', (_n, desc) => {
    const h = sim(desc);
    const first = snapshotHost(new Host(h.root), desc.name);
    const h2 = sim(first);
    expect(snapshotHost(new Host(h2.root), desc.name)).toEqual(first);
  });
});

describe('other sysfs readers see the same host: lspci -A linux-sysfs on the tree', () => {
  it.each(cases)('%s: lspci -vmm -nn -k -D reports the same devices, IDs, classes, drivers and IOMMU groups as vfioctl', (_n, desc) => {
    const h = sim(desc);
    const r = spawnSync('lspci', ['-A', 'linux-sysfs', '-O', `sysfs.path=${h.root}/sys/bus/pci`, '-vmm', '-nn', '-k', '-D'], { encoding: 'utf8' });
    if (r.error) throw new Error(`lspci is needed for this test (Debian: apt-get install pciutils): ${r.error.message}`);
    expect(r.status).toBe(0);
    const seen: Record<string, { ids: string; cls: string; driver: string | null; group: number | null }> = {};
    for (const block of r.stdout.split('\n\n').filter((b) => b.trim())) {
      const field = (name: string): string | undefined => new RegExp(`^${name}:\\t(.*)$`, 'm').exec(block)?.[1];
      const id = (text: string | undefined): string => /\[([0-9a-f]{4})\]$/.exec(text ?? '')?.[1] ?? '?';
      const group = field('IOMMUGroup');
      seen[field('Slot')!] = { ids: `${id(field('Vendor'))}:${id(field('Device'))}`, cls: id(field('Class')), driver: field('Driver') ?? null, group: group === undefined ? null : Number(group) };
    }
    const host = new Host(h.root);
    const mine = Object.fromEntries(
      host.reader.listAddresses().map((a) => {
        const d = host.reader.device(a);
        return [d.name, { ids: `${d.vendor}:${d.device}`, cls: d.class.slice(0, 4), driver: d.driver as string | null, group: d.iommuGroup }];
      }),
    );
    expect(seen).toEqual(mine);
    expect(Object.keys(seen).length).toBe(desc.devices.length);
  });
});

describe('descriptions are input: checked before any path is built', () => {
  const hostile: [string, (d: HostDescription) => void, RegExp][] = [
    ['an address with ../', (d) => void (d.devices[1]!.address = '../../../etc'), /not a PCI address/],
    ['an interface name with /', (d) => void (d.devices[1]!.net = [{ name: 'eth0/../..', operstate: 'up' }]), /contains '\/'/],
    ['a block device name with ../', (d) => void (d.devices[1]!.block = [{ name: '../../x' }]), /block device name/],
    ['a driver name with /', (d) => void (d.drivers[1]!.name = '../evil'), /not a valid driver name/],
    ['a kernel release with /', (d) => void (d.kernel.release = '../../..'), /kernel.release/],
    ['a child listed before its parent', (d) => void d.devices.reverse(), /must be listed before it/],
    ['a device bound to an unknown driver', (d) => void (d.devices[1]!.driver = 'nouveau'), /not in the drivers list/],
    ['a probe refusal of an unknown kind', (d) => void (d.drivers[4]!.probeRefusals = [{ when: 'always' as 'vfs-enabled', errno: 'EINVAL' }]), /probeRefusals\[0\]\.when must be one of/],
  ];
  it.each(hostile)('%s: InputError and no tree', (_l, spoil, message) => {
    const desc = tinyHost();
    spoil(desc);
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vfioctl-hostile-'));
    try {
      expect(() => materializeHost(desc, path.join(dir, 'host'))).toThrow(InputError);
      expect(() => materializeHost(desc, path.join(dir, 'host'))).toThrow(message);
      expect(fs.readdirSync(dir)).toEqual([]);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('refuses to build into a directory that is not empty', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vfioctl-full-'));
    try {
      fs.writeFileSync(path.join(dir, 'keep.txt'), 'mine');
      expect(() => materializeHost(tinyHost(), dir)).toThrow(/is not empty/);
      expect(fs.readdirSync(dir)).toEqual(['keep.txt']);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
