import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { listBundledHosts, loadHostDescription } from '../../src/mock/hosts.js';
import type { HostDescription } from '../../src/mock/description.js';
import { json, runCli } from '../helpers/cli.js';
import { makeSimulatedHost } from '../helpers/sim-host.js';
import { tinyHost } from '../helpers/tiny-host.js';
import { domainXml, tempFile } from '../helpers/xml.js';

/**
 * Nothing is lost between a host and its snapshot: list, group-info and check give the same answer against a
 * host and against `vfioctl snapshot` of it (read as --root FILE.json), and a snapshot of the snapshot's own
 * tree is the snapshot again. Run on every bundled host and on the hosts other tests make with facts beyond
 * the PCI functions: non-PCI group members, the ACS override, vfio's no-IOMMU mode, IPv6 addresses and
 * routes, a 9p/virtiofs filesystem served by a virtio device, vfioctl's own journal.
 */

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vfioctl-roundtrip-'));
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

function modern(change: (d: HostDescription) => void): HostDescription {
  const desc = loadHostDescription('modern-vfio');
  change(desc);
  return desc;
}

interface Case {
  name: string;
  desc: HostDescription;
  /** Changes to the materialized tree that a description cannot say (before this fix). */
  tweak?: (root: string) => void;
}

const cases: Case[] = [
  ...listBundledHosts().map(({ name }) => ({ name, desc: loadHostDescription(name) })),
  {
    name: 'non-PCI members',
    desc: modern((d) => {
      d.nonPciDevices = [
        { name: 'MSFT0101:00', bus: 'platform', driver: 'tpm_crb', iommuGroup: 6 },
        { name: 'AMDI0010:00', bus: 'platform', driver: null, iommuGroup: 3 },
        { name: 'fd500000.pcie', bus: 'platform', driver: 'brcm-pcie', iommuGroup: 9 },
        { name: '80860F0E:00', bus: 'platform', driver: 'dw_dmac', iommuGroup: null },
      ];
    }),
  },
  { name: 'ACS override', desc: modern((d) => void (d.kernel.cmdline = 'BOOT_IMAGE=/boot/vmlinuz ro quiet amd_iommu=on pcie_acs_override=downstream,multifunction')) },
  {
    name: 'no-IOMMU mode',
    desc: modern((d) => {
      d.kernel.vfioNoiommu = true;
      d.kernel.noiommuGroups = [3, 4];
      for (const dev of d.devices) if (dev.address === '0000:01:00.2') dev.driver = 'vfio-pci';
    }),
  },
  { name: 'no-IOMMU mode off', desc: modern((d) => void (d.kernel.vfioNoiommu = false)) },
  {
    name: 'IPv6 only',
    desc: loadHostDescription('workstation'),
    tweak: (root) => {
      // enp5s0 (workstation's NIC) with a global IPv6 address and the IPv6 default route, and no IPv4 route.
      fs.writeFileSync(path.join(root, 'proc/net/route'), 'Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT\n');
      fs.writeFileSync(path.join(root, 'proc/net/if_inet6'), `20010db8000000000000000000000001 02 40 00 80 ${nicOf('workstation')}\n00000000000000000000000000000001 01 80 10 80 lo\n`);
      fs.writeFileSync(path.join(root, 'proc/net/ipv6_route'), `00000000000000000000000000000000 00 00000000000000000000000000000000 00 fe800000000000000000000000000001 00000400 00000001 00000000 00000003 ${nicOf('workstation')}\n`);
    },
  },
  {
    name: 'IPv6 on a VLAN over a bond',
    desc: (() => {
      const d = loadHostDescription('hypervisor');
      d.routes = d.routes.filter((r) => r.iface !== 'bond0.100');
      return d;
    })(),
    tweak: (root) => fs.writeFileSync(path.join(root, 'proc/net/if_inet6'), '20010db8006400000000000000000001 07 40 00 80 bond0.100\n'),
  },
  {
    name: '9p root',
    desc: (() => {
      const d = tinyHost();
      d.drivers.push({ name: 'virtio-pci', module: 'virtio_pci', state: 'loaded', ids: [{ vendor: '1af4', device: '*' }] });
      d.devices.push({ address: '0000:00:02.0', parent: null, vendor: '1af4', device: '1009', subsystemVendor: '1af4', subsystemDevice: '0009', class: '000200', headerType: 0, driver: 'virtio-pci', driverOverride: null, iommuGroup: 9 });
      return d;
    })(),
    tweak: (root) => {
      // The root filesystem over 9p from a virtio device, as test/cli/shared-filesystem.test.ts makes it.
      fs.writeFileSync(path.join(root, 'sys/devices/pci0000:00/0000:00:02.0/virtio0/mount_tag'), 'hostroot\n');
      fs.appendFileSync(path.join(root, 'proc/mounts'), 'hostroot / 9p ro,relatime,trans=virtio,version=9p2000.L 0 0\n');
    },
  },
  {
    name: 'held by vfioctl',
    desc: (() => {
      const d = loadHostDescription('workstation');
      for (const dev of d.devices) if (dev.iommuGroup === 1 && !dev.class.startsWith('06')) dev.driver = 'vfio-pci';
      for (const drv of d.drivers) if (drv.name === 'vfio-pci') drv.state = 'loaded';
      return d;
    })(),
    tweak: (root) => {
      // The GPU group moved by the hook of domain vm-a (the journal src/run/journal.ts writes), on Debian.
      const moved = (driver: string, device: string): object => ({ driver, override: null, method: 'driver_override', vendor: '10de', device, since: '2026-12-01T10:00:00.000Z', by: 'hook prepare', owner: { kind: 'domain', uuid: '', name: 'vm-a' } });
      fs.mkdirSync(path.join(root, 'run/vfioctl'), { recursive: true });
      fs.writeFileSync(path.join(root, 'run/vfioctl/journal.json'), JSON.stringify({ version: 1, devices: { '0000:01:00.0': moved('nouveau', '2484'), '0000:01:00.1': moved('snd_hda_intel', '228b') }, operation: null }));
      fs.mkdirSync(path.join(root, 'etc'), { recursive: true });
      fs.writeFileSync(path.join(root, 'etc/os-release'), 'ID=debian\nVERSION_ID="12"\n');
    },
  },
];

/** The first function of a bundled host with a network interface. */
function nicOf(host: string): string {
  return loadHostDescription(host).devices.find((d) => d.net && d.net.length > 0)!.net![0]!.name;
}

describe('snapshot round trip: list, group-info and check answer the same against a host and its snapshot', () => {
  for (const c of [...cases, ...cases.map((x) => ({ ...x, name: `${x.name}, read as a real host`, real: true }))] as (Case & { real?: boolean })[]) {
    it(c.name, async () => {
      const h = makeSimulatedHost(c.desc);
      try {
        c.tweak?.(h.root);
        // Without the simulated kernel's state, snapshot reads the tree as it reads a real host (lib/modules for the drivers).
        if (c.real) fs.rmSync(path.join(h.root, '.vfioctl-sim'), { recursive: true });
        const snap = path.join(dir, `${c.name.replace(/[^A-Za-z0-9]+/g, '-')}.json`);
        const taken = await runCli(['snapshot', '--name', 'rt', '-o', snap, '--root', h.root]);
        expect(taken.stderr).toMatch(/^Wrote /);
        if (c.name.startsWith('held')) expect(JSON.parse(fs.readFileSync(snap, 'utf8'))).toMatchObject({ osRelease: 'ID=debian\nVERSION_ID="12"\n', held: [{ address: '0000:01:00.0', driver: 'nouveau' }, { address: '0000:01:00.1' }] });
        await expectSameAnswers(h.root, snap, !c.real);
        // The snapshot's own tree snapshots to the same description.
        const again = makeSimulatedHost(JSON.parse(fs.readFileSync(snap, 'utf8')) as HostDescription);
        try {
          expect(json(await runCli(['snapshot', '--name', 'rt', '--root', again.root]))).toEqual(JSON.parse(fs.readFileSync(snap, 'utf8')));
        } finally {
          again.cleanup();
        }
      } finally {
        h.cleanup();
      }
    });
  }
});

/** `all`: also list's text and group-info per group (a second pass over a host reads only list --json and check). */
async function expectSameAnswers(root: string, snap: string, all: boolean): Promise<void> {
  const run = async (args: string[]): Promise<{ code: number; out: unknown }> => {
    const onHost = await runCli([...args, '--root', root]);
    const onSnap = await runCli([...args, '--root', snap]);
    expect({ args, code: onSnap.code, out: onSnap.stdout }).toEqual({ args, code: onHost.code, out: onHost.stdout });
    return { code: onHost.code, out: onHost.stdout };
  };
  const list = JSON.parse((await run(['list', '--json'])).out as string) as { groups?: { group: number; devices: { address: string }[] }[] };
  if (all) await run(['list']);
  for (const g of list.groups ?? []) {
    const first = g.devices[0];
    if (first === undefined) continue;
    if (all) await run(['group-info', first.address, '--json']);
    const xml = tempFile(`g${g.group}.xml`, domainXml('rt', [{ address: first.address, group: 'auto' }]));
    await run(['check', xml, '--json']);
  }
}

describe('the fields a snapshot adds are checked like the rest of a description', () => {
  const refused = (change: (d: HostDescription) => void): string => {
    const d = loadHostDescription('workstation');
    change(d);
    try {
      makeSimulatedHost(d).cleanup();
    } catch (err) {
      return (err as Error).message;
    }
    return 'accepted';
  };
  it('ipv6 names interfaces of the description; held names its devices with a journal entry; sharedFs has a plain tag', () => {
    expect(refused((d) => void (d.ipv6 = { addresses: ['eth9'] }))).toMatch(/ipv6\.addresses\[0\] names eth9, which no device has/);
    const entry = { driver: 'nouveau', override: null, method: 'driver_override' as const, vendor: '10de', device: '2484', since: 'x', by: 'detach' };
    expect(refused((d) => void (d.held = [{ address: '0000:09:00.0', ...entry }]))).toMatch(/held\[0\]: 0000:09:00\.0 is not a device of the description/);
    expect(refused((d) => void (d.held = [{ address: '0000:01:00.0', ...entry, driver: '../x' }]))).toMatch(/held\[0\] \(0000:01:00\.0\) is not a journal entry: it needs driver and override \(a driver name or null\)/);
    expect(refused((d) => void (d.held = [{ address: '0000:01:00.0', ...entry, interfaces: ['not an ifname'] }]))).toMatch(/held\[0\]\.interfaces must be a list of interface names/);
    expect(refused((d) => void (d.devices[2]!.sharedFs = { fstype: '9p', tag: '../etc' }))).toMatch(/sharedFs\.tag '\.\.\/etc' is not valid/);
    expect(refused((d) => void d.mounts.push({ source: 'not a tag', target: '/', fstype: 'virtiofs' }))).toMatch(/mounts\[\d+\]\.source 'not a tag' is not valid/);
    expect(refused((d) => void (d.held = [{ address: '0000:01:00.0', ...entry, owner: { kind: 'domain', uuid: '', name: 'vm-a' }, interfaces: [] }]))).toBe('accepted');
  });
});

describe('what a snapshot cannot record, it says', () => {
  it("vfioctl's journal: a command line with any file name is kept (as ASCII); an owner it cannot hold is a warning, not silence", async () => {
    const held = cases.find((c) => c.name === 'held by vfioctl')!;
    const h = makeSimulatedHost(held.desc);
    try {
      const entry = (device: string, owner: object): object => ({ driver: 'nouveau', override: null, method: 'driver_override', vendor: '10de', device, since: '2026-12-01T10:00:00.000Z', by: `detach /home/jürgen/${'v'.repeat(300)}.xml`, owner });
      fs.mkdirSync(path.join(h.root, 'run/vfioctl'), { recursive: true });
      const devices = { '0000:01:00.0': entry('2484', { kind: 'domain', uuid: '', name: 'vm-a' }), '0000:01:00.1': entry('228b', { kind: 'domain', uuid: '', name: 'vm-ü' }) };
      fs.writeFileSync(path.join(h.root, 'run/vfioctl/journal.json'), JSON.stringify({ version: 1, devices, operation: null }));
      const r = await runCli(['snapshot', '--root', h.root]);
      expect(r.code).toBe(0);
      const snap = json(r) as HostDescription;
      expect(snap.held!.map((e) => [e.address, e.by.length, e.by.slice(0, 20), e.owner?.name])).toEqual([
        ['0000:01:00.0', 200, 'detach /home/j?rgen/', 'vm-a'],
        ['0000:01:00.1', 200, 'detach /home/j?rgen/', undefined],
      ]);
      expect(r.stderr).toBe("warning: the owner vfioctl's journal records for 0000:01:00.1 is left out (its kind, uuid or name is not one a description can hold): against the snapshot the device is held by no domain.\n");
    } finally {
      h.cleanup();
    }
  });

  it('a non-PCI group member on a bus a description has no name for: a warning naming it and its group', async () => {
    const h = makeSimulatedHost(modern((d) => void (d.nonPciDevices = [{ name: 'MSFT0101:00', bus: 'platform', driver: null, iommuGroup: 6 }])));
    try {
      const dev = path.join(h.root, 'sys/devices/platform/MSFT0101:00');
      fs.mkdirSync(path.join(h.root, 'sys/bus/usb'));
      fs.rmSync(path.join(dev, 'subsystem'));
      fs.symlinkSync('../../../bus/usb', path.join(dev, 'subsystem'));
      const r = await runCli(['snapshot', '--root', h.root]);
      expect(r.code).toBe(0);
      expect(r.stderr).toBe(
        'warning: MSFT0101:00 in IOMMU group 6 is left out: it is on the usb bus, and a description holds non-PCI devices on platform, amba, fsl-mc, cdx, host1x only; checks of that group against the snapshot miss it.\n',
      );
      expect(json(r)).not.toHaveProperty('nonPciDevices');
    } finally {
      h.cleanup();
    }
  });
});
