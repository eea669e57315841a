import fs from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { Host } from '../../src/host/host.js';
import { loadHostDescription } from '../../src/mock/hosts.js';
import { snapshotHost } from '../../src/mock/snapshot.js';
import { makeSimulatedHost, type SimHost } from '../helpers/sim-host.js';

/** `vfioctl snapshot` records the layers above the functions, and nothing that identifies the machine. */
const hosts: SimHost[] = [];
afterEach(() => {
  while (hosts.length) hosts.pop()!.cleanup();
});

describe('snapshot of upper devices and block layers', () => {
  it('records the hypervisor\'s bridge, bond, VLAN, ZFS pool, LVM and LUKS as described', () => {
    const h = makeSimulatedHost('hypervisor');
    hosts.push(h);
    const snap = snapshotHost(new Host(h.root), 'hv');
    const desc = loadHostDescription('hypervisor');
    expect(snap.netUppers).toEqual(desc.netUppers);
    expect(snap.storage).toEqual(desc.storage);
    expect(snap.mounts).toEqual(desc.mounts);
    expect(snap.routes.map((r) => r.iface)).toEqual(['br0', 'br0', 'bond0.100']);
  });

  it('records /dev/root with its device, a btrfs filesystem without its UUID, and a luks-UUID name as its dm-N', () => {
    const d = loadHostDescription('workstation');
    d.storage = { stacked: [{ name: 'dm-0', kind: 'crypt', dmName: 'luks-0b5e2c1a-9f3d-4e6b-8a7c-1d2e3f405162', slaves: ['nvme0n1p1'] }], btrfs: [{ devices: ['sda2', 'sdb1'] }] };
    d.devices.find((x) => x.address === '0000:00:17.0')!.block = [{ name: 'sda', partitions: ['sda1', 'sda2'] }, { name: 'sdb', partitions: ['sdb1'] }];
    d.mounts = [
      { source: '/dev/root', target: '/', fstype: 'ext4', device: 'sda1' },
      { source: '/dev/mapper/luks-0b5e2c1a-9f3d-4e6b-8a7c-1d2e3f405162', target: '/home', fstype: 'ext4' },
    ];
    d.swaps = [];
    const h = makeSimulatedHost(d);
    hosts.push(h);
    expect(fs.readdirSync(path.join(h.root, 'sys/fs/btrfs'))).toHaveLength(1);
    const snap = snapshotHost(new Host(h.root), 'ws');
    const text = JSON.stringify(snap);
    expect(text).not.toMatch(/[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/i);
    expect(snap.storage).toEqual({ stacked: [{ name: 'dm-0', kind: 'crypt', dmName: 'dm-0', slaves: ['nvme0n1p1'] }], btrfs: [{ devices: ['sda2', 'sdb1'] }] });
    expect(snap.mounts).toEqual([
      { source: '/dev/root', target: '/', fstype: 'ext4', device: 'sda1' },
      { source: '/dev/mapper/dm-0', target: '/home', fstype: 'ext4' },
    ]);
  });
});
