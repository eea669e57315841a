import fs from 'node:fs';
import path from 'node:path';
import type { HostLayout } from '../host/layout.js';
import { isInterfaceEntry } from '../host/net-index.js';
import { lowersOf, upperKind } from '../host/net-uppers.js';
import { listDir, readOptional, readTextFile } from '../host/sysfs-read.js';
import type { HostDescription, NetUpperDescription, StorageDescription } from './description.js';

/**
 * What `vfioctl snapshot` records above the PCI functions: upper network devices on the functions'
 * interfaces, and the block layers on their disks (src/mock/net-uppers.ts and storage-layers.ts build them
 * back). Only what stands on something already recorded, and nothing identifying: no filesystem UUIDs
 * (a btrfs filesystem is recorded by its devices), and a device-mapper name that holds a UUID (luks-UUID)
 * is recorded as its dm-N name.
 */
export function snapshotNetUppers(classNet: string, ifaces: Set<string>): NetUpperDescription[] {
  const known = new Set(ifaces);
  const candidates = (listDir(classNet) ?? []).filter((n) => isInterfaceEntry(n) && !ifaces.has(n)).sort();
  const out: NetUpperDescription[] = [];
  // Lowers before uppers: each round takes every upper whose lowers are all recorded.
  for (let round = 0; round < 8; round++) {
    const ready = candidates.filter((n) => !known.has(n)).map((n) => ({ n, lowers: lowersOf(classNet, n) })).filter((c) => c.lowers.length > 0 && c.lowers.every((l) => known.has(l)));
    if (ready.length === 0) break;
    for (const { n, lowers } of ready) {
      const isPortOf = lowers.some((l) => readLinkName(path.join(classNet, l, 'master')) === n);
      const kind = upperKind(classNet, n);
      out.push({ name: n, kind: kind === 'device' ? (isPortOf ? 'team' : 'macvlan') : kind, operstate: readOptional(path.join(classNet, n, 'operstate'))?.trim() ?? 'unknown', lowers });
    }
    for (const { n } of ready) known.add(n);
  }
  return out;
}

function readLinkName(link: string): string | undefined {
  try {
    return path.basename(fs.readlinkSync(link));
  } catch {
    return undefined;
  }
}

const UUID = /[0-9a-f]{8}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{12}/i;

export interface StorageSnapshot {
  storage: StorageDescription;
  /** Block devices recorded as stacked: their names join the controllers' disks as known devices. */
  names: string[];
  /** dm/name → what a /dev/mapper/ source is recorded as. */
  mapper: Map<string, string>;
}

export function snapshotStorage(layout: HostLayout, disks: Set<string>): StorageSnapshot {
  const classBlock = layout.classBlockDir;
  const known = new Set(disks);
  const stacked: NonNullable<StorageDescription['stacked']> = [];
  const mapper = new Map<string, string>();
  const candidates = (listDir(classBlock) ?? []).filter((n) => !known.has(n) && /^(dm-|md|bcache)[0-9]{1,4}$/.test(n)).sort(byNumber);
  for (let round = 0; round < 8; round++) {
    const ready = candidates.filter((n) => !known.has(n)).map((n) => ({ n, slaves: (listDir(path.join(classBlock, n, 'slaves')) ?? []).sort() })).filter((c) => c.slaves.length > 0 && c.slaves.every((s) => known.has(s)));
    if (ready.length === 0) break;
    for (const { n, slaves } of ready) {
      if (n.startsWith('md')) stacked.push({ name: n, kind: 'md', slaves });
      else if (n.startsWith('bcache')) stacked.push({ name: n, kind: 'bcache', slaves });
      else {
        const uuid = readOptional(path.join(classBlock, n, 'dm', 'uuid'))?.trim() ?? '';
        const dmName = readOptional(path.join(classBlock, n, 'dm', 'name'))?.trim() ?? n;
        const kind = uuid.startsWith('LVM-') ? 'lvm' : uuid.startsWith('CRYPT-') ? 'crypt' : uuid.startsWith('mpath-') ? 'multipath' : 'dm';
        const recorded = UUID.test(dmName) || !/^[A-Za-z0-9][A-Za-z0-9_.+-]{0,127}$/.test(dmName) ? n : dmName;
        mapper.set(dmName, recorded);
        stacked.push({ name: n, kind, dmName: recorded, slaves });
      }
      known.add(n);
    }
  }
  const storage: StorageDescription = {};
  if (stacked.length > 0) storage.stacked = stacked.sort((a, b) => byNumber(a.name, b.name));
  const pools = zfsPools(layout, known);
  if (pools.length > 0) storage.zfsPools = pools;
  const btrfs = btrfsFilesystems(layout, known);
  if (btrfs.length > 0) storage.btrfs = btrfs;
  return { storage, names: stacked.map((s) => s.name), mapper };
}

function byNumber(a: string, b: string): number {
  const key = (s: string): [string, number] => [s.replace(/[0-9]+$/, ''), Number(/[0-9]+$/.exec(s)?.[0] ?? 0)];
  const [pa, na] = key(a);
  const [pb, nb] = key(b);
  return pa === pb ? na - nb : pa < pb ? -1 : 1;
}

/** Pools from udev's database, each with the recorded block devices that are its members. */
function zfsPools(layout: HostLayout, known: Set<string>): NonNullable<StorageDescription['zfsPools']> {
  const dir = layout.onHost('/run/udev/data');
  const pools = new Map<string, string[]>();
  for (const f of listDir(dir) ?? []) {
    const m = /^b([0-9]{1,10}:[0-9]{1,10})$/.exec(f);
    if (!m) continue;
    const text = readOptional(path.join(dir, f)) ?? '';
    const pool = /^E:ID_FS_LABEL=(.*)$/m.exec(text)?.[1]?.trim();
    if (!/^E:ID_FS_TYPE=zfs_member$/m.test(text) || !pool || !/^[A-Za-z][A-Za-z0-9_.:-]{0,63}$/.test(pool)) continue;
    const name = readLinkName(layout.onHost(`/sys/dev/block/${m[1]}`));
    if (name && known.has(name)) pools.set(pool, [...(pools.get(pool) ?? []), name]);
  }
  return [...pools].sort(([a], [b]) => (a < b ? -1 : 1)).map(([pool, members]) => ({ pool, members: members.sort() }));
}

function btrfsFilesystems(layout: HostLayout, known: Set<string>): NonNullable<StorageDescription['btrfs']> {
  const dir = layout.onHost('/sys/fs/btrfs');
  const out: { devices: string[] }[] = [];
  for (const fsid of (listDir(dir) ?? []).sort()) {
    const devices = listDir(path.join(dir, fsid, 'devices'))?.sort();
    if (devices && devices.length > 1 && devices.every((d) => known.has(d))) out.push({ devices });
  }
  return out;
}

/**
 * The mounts to record: block devices recorded (by name, or /dev/mapper/NAME), ZFS datasets of recorded
 * pools, and a source that names no device (/dev/root) with the device mountinfo's major:minor gives.
 */
export function snapshotMounts(layout: HostLayout, known: Set<string>, mapper: Map<string, string>, pools: Set<string>): HostDescription['mounts'] {
  const byTarget = mountinfoDevices(layout);
  const out: HostDescription['mounts'] = [];
  for (const line of (readTextFile(layout.procMounts) ?? '').split('\n')) {
    const [source, target, fstype] = line.split(' ');
    if (!source || !target || !fstype) continue;
    if (fstype === 'zfs') {
      if (pools.has(source.split('/')[0]!)) out.push({ source, target, fstype });
      continue;
    }
    if (!source.startsWith('/dev/')) continue;
    const rel = source.slice(5);
    if (rel.startsWith('mapper/') && mapper.has(rel.slice(7))) out.push({ source: `/dev/mapper/${mapper.get(rel.slice(7))}`, target, fstype });
    else if (known.has(rel)) out.push({ source, target, fstype });
    else {
      const device = byTarget.get(target);
      if (device && known.has(device)) out.push({ source, target, fstype, device });
    }
  }
  return out;
}

/** Mount target (as escaped in the file) → the block device its major:minor names. */
function mountinfoDevices(layout: HostLayout): Map<string, string> {
  const out = new Map<string, string>();
  for (const line of (readTextFile(layout.onHost('/proc/self/mountinfo')) ?? '').split('\n')) {
    const f = line.split(' ');
    if (f.length < 10 || !/^[1-9][0-9]{0,9}:[0-9]{1,10}$/.test(f[2]!)) continue;
    const name = readLinkName(layout.onHost(`/sys/dev/block/${f[2]}`));
    if (name) out.set(f[4]!, name);
  }
  return out;
}
