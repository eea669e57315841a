import fs from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { BlockStack } from '../../src/host/block-stack.js';
import { HostLayout } from '../../src/host/layout.js';
import type { HostDescription } from '../../src/mock/description.js';
import { loadHostDescription } from '../../src/mock/hosts.js';
import { blockChainPhrase } from '../../src/plan/host-needs.js';
import { makeSimulatedHost, type SimHost } from '../helpers/sim-host.js';

/** From mounts and swap down through the block layers to the PCI controllers. */
const hosts: SimHost[] = [];
afterEach(() => {
  while (hosts.length) hosts.pop()!.cleanup();
});
function sites(desc: HostDescription | string): { root: string; found: { at: string; controller: string; chain: string }[] } {
  const h = makeSimulatedHost(desc);
  hosts.push(h);
  return { root: h.root, found: found(h.root) };
}
const found = (root: string): { at: string; controller: string; chain: string }[] =>
  new BlockStack(new HostLayout(root)).sites().map((s) => ({ at: s.swap ? 'swap' : s.mountpoint!, controller: s.path.controller, chain: blockChainPhrase(s.path.layers) }));
function workstation(edit: (d: HostDescription) => void): HostDescription {
  const d = loadHostDescription('workstation');
  d.mounts = [];
  d.swaps = [];
  edit(d);
  return d;
}

describe('block layers', () => {
  it('the hypervisor: ZFS members, a partition, LVM and LUKS, each down to its controller', () => {
    expect(sites('hypervisor').found).toEqual([
      { at: '/', controller: '0000:00:17.0', chain: 'sda, its partition sda3, a member of ZFS pool rpool' },
      { at: '/', controller: '0000:00:17.0', chain: 'sdb, its partition sdb3, a member of ZFS pool rpool' },
      { at: '/boot/efi', controller: '0000:00:17.0', chain: 'sda, its partition sda2' },
      { at: '/var/lib/vz', controller: '0000:02:00.0', chain: 'nvme0n1, its partition nvme0n1p1, under LVM volume pve-data (dm-0)' },
      { at: 'swap', controller: '0000:02:00.0', chain: 'nvme0n1, its partition nvme0n1p2, under encrypted volume cryptswap (dm-1)' },
    ]);
  });

  it('/dev/root is the device mountinfo\'s major:minor names, found through sys/dev/block', () => {
    const { root, found: f } = sites(workstation((d) => (d.mounts = [{ source: '/dev/root', target: '/', fstype: 'ext4', device: 'sda1' }])));
    expect(f).toEqual([{ at: '/', controller: '0000:00:17.0', chain: 'sda, its partition sda1' }]);
    expect(fs.readFileSync(path.join(root, 'proc/self/mountinfo'), 'utf8')).toMatch(/^\d+ 1 8:\d+ \/ \/ rw,relatime \S+ - ext4 \/dev\/root rw$/m);
  });

  it('a btrfs filesystem on two controllers holds both', () => {
    const { found: f } = sites(workstation((d) => {
      d.storage = { btrfs: [{ devices: ['nvme0n1p1', 'sda1'] }] };
      d.mounts = [{ source: '/dev/sda1', target: '/', fstype: 'btrfs' }];
    }));
    expect(f.map((s) => s.controller)).toEqual(['0000:02:00.0', '0000:00:17.0']);
  });

  it('a ZFS dataset whose pool has no member in udev\'s database leads nowhere (nothing guessed)', () => {
    const { root } = sites(workstation((d) => {
      d.storage = { zfsPools: [{ pool: 'tank', members: ['sda1'] }] };
      d.mounts = [{ source: 'tank/data', target: '/tank', fstype: 'zfs' }];
    }));
    fs.rmSync(path.join(root, 'run/udev'), { recursive: true });
    expect(found(root)).toEqual([]);
  });

  it('a slaves loop in a hostile tree ends', () => {
    const { root } = sites(workstation((d) => {
      d.storage = { stacked: [{ name: 'dm-0', kind: 'dm', dmName: 'x', slaves: ['sda1'] }] };
      d.mounts = [{ source: '/dev/mapper/x', target: '/', fstype: 'ext4' }];
    }));
    const dm = fs.realpathSync(path.join(root, 'sys/class/block/dm-0'));
    fs.rmSync(path.join(dm, 'slaves/sda1'));
    fs.symlinkSync('../../dm-0', path.join(dm, 'slaves/dm-0'));
    expect(found(root)).toEqual([]);
  });
});
