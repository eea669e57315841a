import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { HostReader } from '../../src/host/reader.js';
import { listBundledHosts, loadHostDescription } from '../../src/mock/hosts.js';
import type { PciDevice } from '../../src/pci/device.js';
import { useSimulatedHosts, type SimHost } from '../helpers/sim-host.js';
import { runBin } from '../helpers/cli.js';
import { tinyHost } from '../helpers/tiny-host.js';

const simulatedHost = useSimulatedHosts();

/** Every grouped device as `list` reads it (one scan of every function), by group. */
function byScan(root: string): Map<number, PciDevice[]> {
  const reader = new HostReader(root, 'scan');
  const out = new Map<number, PciDevice[]>();
  for (const { group, members } of reader.scan().groups()) out.set(group, members.map((loc) => reader.readAt(loc)));
  return out;
}

/** The same, the way group-info and detach read: each group's devices/ listing, each device on its own. */
function byLookup(root: string): Map<number, PciDevice[]> {
  const reader = new HostReader(root);
  return new Map(reader.listGroups().map((g) => [g, reader.groupMembers(g).map((a) => reader.device(a))]));
}

const withGroups = listBundledHosts()
  .map((h) => h.name)
  .filter((n) => n !== 'iommu-off' && n !== 'ci-machine');

describe("list's scan of every function reads what a lookup of each group reads", () => {
  it.each(withGroups)('%s: same groups, same members in the same order, same devices (SR-IOV relations included)', (name) => {
    const h = simulatedHost(name);
    const scanned = byScan(h.root);
    expect([...scanned.keys()]).toEqual(new HostReader(h.root).listGroups());
    expect(scanned).toEqual(byLookup(h.root));
  });

  it('a tree without uevent files (made by an older vfioctl, or by hand) reads the same, from the separate files', () => {
    const h = simulatedHost('sriov-server');
    const before = byLookup(h.root);
    const devices = path.join(h.root, 'sys/bus/pci/devices');
    for (const d of fs.readdirSync(devices)) fs.rmSync(path.join(devices, d, 'uevent'));
    expect(byScan(h.root)).toEqual(before);
    expect(byLookup(h.root)).toEqual(before);
  });

  /**
   * Moves a directory of the tree elsewhere and re-points every symlink of the tree that led into it (or
   * out of it) so that each still reaches what it reached: the kernel's links are relative, as the mock's are.
   */
  function moveDir(root: string, from: string, to: string): void {
    const src = path.join(root, from);
    const dst = path.join(root, to);
    const moved = (p: string): string => (p === src || p.startsWith(`${src}/`) ? dst + p.slice(src.length) : p);
    const links: { at: string; target: string }[] = [];
    const walk = (dir: string): void => {
      for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
        const p = path.join(dir, e.name);
        if (e.isSymbolicLink()) links.push({ at: p, target: path.resolve(dir, fs.readlinkSync(p)) });
        else if (e.isDirectory()) walk(p);
      }
    };
    walk(path.join(root, 'sys'));
    fs.mkdirSync(path.dirname(dst), { recursive: true });
    fs.renameSync(src, dst);
    for (const l of links) {
      const at = moved(l.at);
      fs.rmSync(at);
      fs.symlinkSync(path.relative(path.dirname(at), moved(l.target)), at);
    }
  }

  it("functions the device-tree walk does not reach (a PCI root outside sys/devices/pciDDDD:BB, as under Hyper-V's VMBus) are located by their bus links, and read the same", () => {
    const h = simulatedHost('sriov-server');
    const before = byScan(h.root);
    expect(before.size).toBeGreaterThan(3);
    moveDir(h.root, 'sys/devices/pci0000:3a', 'sys/devices/LNXSYSTM:00/VMBUS:00/f8b3781b-1e82-4818-a1c3-63d806ec15bb/pci0000:3a');
    expect(fs.existsSync(path.join(h.root, 'sys/devices/pci0000:3a'))).toBe(false);
    expect(fs.realpathSync(path.join(h.root, 'sys/bus/pci/devices/0000:3b:00.0'))).toContain('/VMBUS:00/');
    expect(byScan(h.root)).toEqual(before);
    expect(byLookup(h.root)).toEqual(before);
  });

  it('the functions behind a bridge whose config space does not say it is one (header type unreadable) are located by their bus links', () => {
    const h = simulatedHost('pci-bridge');
    const { devices } = loadHostDescription('pci-bridge');
    const bridges = devices.filter((d) => d.headerType === 1 && devices.some((c) => c.parent === d.address));
    expect(bridges.length).toBeGreaterThan(0);
    for (const b of bridges) fs.writeFileSync(path.join(h.root, 'sys/bus/pci/devices', b.address, 'config'), '');
    const scanned = byScan(h.root);
    expect([...scanned.values()].flat().length).toBe(devices.filter((d) => d.iommuGroup !== null).length);
    expect(scanned).toEqual(byLookup(h.root));
  });

  it('list (through bin/) prints every group of the host once, in numeric order, and the VFs of each PF', () => {
    const h = simulatedHost('sriov-server');
    const r = runBin(['list', '--json', '--root', h.root]);
    expect(r.code).toBe(0);
    const groups = JSON.parse(r.stdout).groups as { group: number; devices: { address: string; sriov: unknown }[] }[];
    expect(groups.map((g) => g.group)).toEqual(new HostReader(h.root).listGroups());
    const pf = groups.flatMap((g) => g.devices).find((d) => d.address === '0000:3b:00.0');
    const vfs = loadHostDescription('sriov-server').devices.filter((d) => d.physfn === '0000:3b:00.0').map((d) => d.address);
    expect(vfs.length).toBeGreaterThan(1);
    expect(pf?.sriov).toEqual({ role: 'pf', vfs: vfs.sort() });
  });

  /** The tiny host with a virtio-net function (eth0 in DEV/virtio0/net, as virtio-pci puts it) and a loopback. */
  function hostWithInterfaces(): SimHost {
    const desc = tinyHost();
    desc.drivers.push({ name: 'virtio-pci', module: 'virtio_pci', state: 'loaded', ids: [{ vendor: '1af4', device: '*' }] });
    desc.devices.push({ address: '0000:00:03.0', parent: null, vendor: '1af4', device: '1041', subsystemVendor: '1af4', subsystemDevice: '1100', class: '020000', headerType: 0, driver: 'virtio-pci', driverOverride: null, iommuGroup: 7, net: [{ name: 'eth0', operstate: 'up' }] });
    const h = simulatedHost(desc);
    const lo = path.join(h.root, 'sys/devices/virtual/net/lo');
    fs.mkdirSync(lo, { recursive: true });
    fs.symlinkSync('../../devices/virtual/net/lo', path.join(h.root, 'sys/class/net/lo'));
    return h;
  }
  const interfaces = (byGroup: Map<number, PciDevice[]>): [string, string[]][] =>
    [...byGroup.values()].flat().filter((d) => d.netInterfaces.length > 0).map((d) => [d.name, d.netInterfaces]);

  it("interfaces come from one listing of sys/class/net: a virtio-net's (DEV/virtio0/net), a NIC's, not the loopback's", () => {
    const h = hostWithInterfaces();
    expect(fs.existsSync(path.join(h.root, 'sys/devices/pci0000:00/0000:00:03.0/virtio0/net/eth0'))).toBe(true);
    const want = [
      ['0000:01:00.0', ['enp1s0']], // group 2
      ['0000:00:03.0', ['eth0']], // group 7
    ];
    expect(interfaces(byScan(h.root))).toEqual(want);
    expect(interfaces(byLookup(h.root))).toEqual(want);
  });

  it('a tree without sys/class/net (made by hand): each device directory is looked at instead, with the same result', () => {
    const h = hostWithInterfaces();
    fs.rmSync(path.join(h.root, 'sys/class/net'), { recursive: true });
    expect(interfaces(byScan(h.root))).toEqual([
      ['0000:01:00.0', ['enp1s0']], // group 2
      ['0000:00:03.0', ['eth0']], // group 7
    ]);
  });
});
