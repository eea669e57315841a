import fs from 'node:fs';
import path from 'node:path';
import type { HostDescription, StorageDescription } from './description.js';
import { relativeLink } from './layers.js';

/**
 * The block layers of a simulated host, laid out as the kernel and udev show them:
 * - every block device's major:minor in its `dev` file and as sys/dev/block/MAJ:MIN (a link to it);
 * - device-mapper (dm-N with dm/name and dm/uuid), MD RAID (mdN) and bcache (bcacheN) devices in
 *   sys/devices/virtual/block, with slaves/ links down and holders/ links up (bd_link_disk_holder);
 * - ZFS pool members in udev's database, run/udev/data/bMAJ:MIN (E:ID_FS_TYPE=zfs_member, E:ID_FS_LABEL=POOL);
 * - btrfs filesystems on several devices in sys/fs/btrfs/UUID/devices/ (the UUID is made up here);
 * - proc/self/mountinfo, whose major:minor says which device is behind `/dev/root`; ZFS and btrfs mounts
 *   carry an anonymous device (major 0), as on Linux.
 */
const MAJOR: [RegExp, number][] = [
  [/^sd/, 8],
  [/^md/, 9],
  [/^vd/, 252],
  [/^bcache/, 251],
  [/^dm-/, 253],
  [/^nvme/, 259],
];
const UUID_PREFIX: Record<string, string> = { lvm: 'LVM-', crypt: 'CRYPT-LUKS2-', multipath: 'mpath-', dm: '' };

export function writeStorageLayers(root: string, desc: HostDescription): void {
  const classBlock = path.join(root, 'sys/class/block');
  const storage: StorageDescription = desc.storage ?? {};
  for (const s of storage.stacked ?? []) {
    const dir = path.join(root, 'sys/devices/virtual/block', s.name);
    fs.mkdirSync(path.join(dir, 'slaves'), { recursive: true });
    fs.mkdirSync(path.join(dir, 'holders'), { recursive: true });
    fs.writeFileSync(path.join(dir, 'size'), '0\n');
    if (s.kind === 'md') {
      fs.mkdirSync(path.join(dir, 'md'));
      fs.writeFileSync(path.join(dir, 'md', 'level'), 'raid1\n');
    } else if (s.kind !== 'bcache') {
      fs.mkdirSync(path.join(dir, 'dm'));
      fs.writeFileSync(path.join(dir, 'dm', 'name'), `${s.dmName ?? s.name}\n`);
      fs.writeFileSync(path.join(dir, 'dm', 'uuid'), `${UUID_PREFIX[s.kind] ?? ''}simulated-${s.name}\n`);
    }
    for (const slave of s.slaves) {
      const slaveDir = fs.realpathSync(path.join(classBlock, slave));
      relativeLink(slaveDir, path.join(dir, 'slaves', slave));
      relativeLink(dir, path.join(slaveDir, 'holders', s.name));
    }
    relativeLink(dir, path.join(classBlock, s.name));
  }
  const numbers = numberBlockDevices(root, classBlock);
  for (const p of storage.zfsPools ?? []) {
    for (const m of p.members) writeUdevData(root, numbers.get(m)!, ['ID_FS_TYPE=zfs_member', `ID_FS_LABEL=${p.pool}`, 'ID_FS_USAGE=filesystem']);
  }
  (storage.btrfs ?? []).forEach((b, i) => {
    const devices = path.join(root, 'sys/fs/btrfs', `00000000-0000-4000-8000-${String(i).padStart(12, '0')}`, 'devices');
    for (const d of b.devices) relativeLink(fs.realpathSync(path.join(classBlock, d)), path.join(devices, d));
  });
  writeMountinfo(root, desc, numbers);
}

/** Gives every block device a major:minor (`dev`, sys/dev/block/MAJ:MIN); returns name → "MAJ:MIN". */
function numberBlockDevices(root: string, classBlock: string): Map<string, string> {
  const numbers = new Map<string, string>();
  const next = new Map<number, number>();
  for (const name of fs.readdirSync(classBlock).sort()) {
    const major = MAJOR.find(([re]) => re.test(name))?.[1] ?? 254;
    const minor = next.get(major) ?? 0;
    next.set(major, minor + 1);
    const dir = fs.realpathSync(path.join(classBlock, name));
    fs.writeFileSync(path.join(dir, 'dev'), `${major}:${minor}\n`);
    relativeLink(dir, path.join(root, 'sys/dev/block', `${major}:${minor}`));
    numbers.set(name, `${major}:${minor}`);
  }
  return numbers;
}

function writeUdevData(root: string, majMin: string, properties: string[]): void {
  const dir = path.join(root, 'run/udev/data');
  fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(path.join(dir, `b${majMin}`), properties.map((p) => `E:${p}\n`).join(''));
}

/** proc/self/mountinfo: ID PARENT MAJ:MIN ROOT TARGET OPTIONS - FSTYPE SOURCE SUPEROPTIONS (proc(5)). */
function writeMountinfo(root: string, desc: HostDescription, numbers: Map<string, string>): void {
  const lines = [
    '21 1 0:20 / /sys rw,nosuid,nodev,noexec,relatime shared:7 - sysfs sysfs rw',
    '22 1 0:21 / /proc rw,nosuid,nodev,noexec,relatime shared:12 - proc proc rw',
    '24 1 0:23 / /run rw,nosuid,nodev,noexec,relatime shared:5 - tmpfs tmpfs rw,size=1620364k,mode=755',
  ];
  let anonymous = 30;
  desc.mounts.forEach((m, i) => {
    const named = m.device ?? sourceDevice(m.source, desc);
    const majMin = m.fstype === 'zfs' || m.fstype === 'btrfs' || named === undefined ? `0:${anonymous++}` : numbers.get(named) ?? `0:${anonymous++}`;
    lines.push(`${30 + i} 1 ${majMin} / ${m.target.replace(/ /g, '\\040')} rw,relatime shared:${30 + i} - ${m.fstype} ${m.source} rw`);
  });
  fs.mkdirSync(path.join(root, 'proc/self'), { recursive: true });
  fs.writeFileSync(path.join(root, 'proc/self/mountinfo'), lines.join('\n') + '\n');
}

/** /dev/sda1 → sda1; /dev/mapper/NAME → the dm-N whose dm/name is NAME; /dev/md0 → md0. */
function sourceDevice(source: string, desc: HostDescription): string | undefined {
  if (!source.startsWith('/dev/')) return undefined;
  const rel = source.slice('/dev/'.length);
  if (rel.startsWith('mapper/')) return desc.storage?.stacked?.find((s) => s.dmName === rel.slice('mapper/'.length))?.name;
  return rel.includes('/') ? undefined : rel;
}
