import fs from 'node:fs';
import path from 'node:path';
import { formatAddress, parseSysfsAddress } from '../pci/address.js';
import type { HostLayout } from './layout.js';
import { listDir, readOptional, readTextFile } from './sysfs-read.js';

/**
 * Which PCI controllers serve what the host has mounted and swaps on, through every block layer between:
 * - the mounted device from proc/self/mountinfo's major:minor and sys/dev/block/MAJ:MIN (so `/dev/root`, or
 *   any source name, is the device the kernel says), falling back to proc/mounts' /dev/ source;
 * - ZFS: a dataset `POOL/...` is on the block devices udev's database marks as members of POOL
 *   (run/udev/data/bMAJ:MIN: E:ID_FS_TYPE=zfs_member, E:ID_FS_LABEL=POOL);
 * - btrfs: every device of the filesystem, sys/fs/btrfs/UUID/devices/;
 * - device-mapper (LVM, LUKS, multipath), MD RAID and bcache: down each device's slaves/;
 * - a partition: its disk (the directory it sits in);
 * - a disk: the nearest PCI function above it in sys/devices.
 */
export type LayerKind = 'disk' | 'partition' | 'lvm' | 'crypt' | 'multipath' | 'dm' | 'md' | 'bcache' | 'zfs' | 'btrfs';

export interface BlockLayer {
  kind: LayerKind;
  /** The block device (sda, sda3, dm-1, md0), or the ZFS pool. */
  name: string;
  /** device-mapper's name (dm/name: pve-root). */
  label?: string;
}

/** One way down from a mounted (or swap) device to a controller: the layers from the disk up, and the controller. */
export interface BlockPath {
  controller: string;
  layers: BlockLayer[];
}

export interface BlockUseSite {
  /** The block device mounted or swapped on (the top block device of `layers`). */
  device: string;
  mountpoint?: string;
  swap?: boolean;
  path: BlockPath;
}

const MAX_DEPTH = 16;

export class BlockStack {
  private zfsMembers: Map<string, string[]> | undefined;

  constructor(private readonly layout: HostLayout) {}

  /** Every controller behind every mount and active swap, with the layers between. */
  sites(): BlockUseSite[] {
    const out: BlockUseSite[] = [];
    for (const m of this.mounts()) {
      for (const p of m.paths) out.push({ device: topDevice(p), mountpoint: m.target, path: p });
    }
    for (const line of (readTextFile(this.layout.procSwaps) ?? '').split('\n').slice(1)) {
      const [source, type] = line.trim().split(/\s+/);
      if (!source?.startsWith('/dev/') || type !== 'partition') continue;
      const name = this.blockName(source);
      if (name) for (const p of this.down(name, 0)) out.push({ device: topDevice(p), swap: true, path: p });
    }
    // proc/mounts and mountinfo list the same mounts on a live host: each site once.
    const seen = new Set<string>();
    return out.filter((site) => {
      const key = JSON.stringify([site.mountpoint, site.swap, site.path]);
      return !seen.has(key) && Boolean(seen.add(key));
    });
  }

  private mounts(): { target: string; paths: BlockPath[] }[] {
    // Both files: mountinfo's major:minor finds what a name cannot (/dev/root); proc/mounts alone is what a
    // hand-made tree may have. On a live host they list the same mounts, and the same path is counted once.
    const out = this.procMounts();
    for (const line of (readTextFile(this.layout.onHost('/proc/self/mountinfo')) ?? '').split('\n')) {
      const m = parseMountinfo(line);
      if (!m) continue;
      const paths = this.pathsOfMount(m);
      if (paths.length > 0) out.push({ target: m.target, paths });
    }
    return out;
  }

  /** proc/mounts: /dev/ sources by name, ZFS datasets by pool. */
  private procMounts(): { target: string; paths: BlockPath[] }[] {
    const out: { target: string; paths: BlockPath[] }[] = [];
    for (const line of (readTextFile(this.layout.procMounts) ?? '').split('\n')) {
      const [source, target, fstype] = line.split(' ');
      if (!source || !target || !fstype) continue;
      const paths = this.pathsOfMount({ majMin: undefined, target: unescapeMount(target), fstype, source: unescapeMount(source) });
      if (paths.length > 0) out.push({ target: unescapeMount(target), paths });
    }
    return out;
  }

  private pathsOfMount(m: MountEntry): BlockPath[] {
    if (m.fstype === 'zfs') {
      const pool = m.source.split('/')[0]!;
      return this.members(pool).flatMap((dev) => this.down(dev, 0).map((p) => withLayer(p, { kind: 'zfs', name: pool })));
    }
    const named = m.majMin && !m.majMin.startsWith('0:') ? this.byNumber(m.majMin) : m.source.startsWith('/dev/') ? this.blockName(m.source) : undefined;
    if (named === undefined) return [];
    if (m.fstype === 'btrfs') {
      const devices = this.btrfsDevices(named);
      if (devices.length > 1) return devices.flatMap((d) => this.down(d, 0).map((p) => withLayer(p, { kind: 'btrfs', name: named })));
    }
    return this.down(named, 0);
  }

  /** sys/dev/block/MAJ:MIN → the block device's name. */
  private byNumber(majMin: string): string | undefined {
    if (!/^[0-9]{1,10}:[0-9]{1,10}$/.test(majMin)) return undefined;
    const target = readLinkOptional(this.layout.onHost(`/sys/dev/block/${majMin}`));
    const name = target === undefined ? undefined : path.basename(target);
    return name !== undefined && this.isBlock(name) ? name : undefined;
  }

  private isBlock(name: string): boolean {
    return name !== '' && name !== '.' && name !== '..' && !name.includes('/') && listDir(path.join(this.layout.classBlockDir, name)) !== undefined;
  }

  /** /dev/sda1 → sda1; /dev/mapper/vg-root → the dm-N whose dm/name it is; anything else by its last name if it is a block device. */
  blockName(source: string): string | undefined {
    const rel = unescapeMount(source).slice('/dev/'.length);
    const classBlock = this.layout.classBlockDir;
    if (rel.startsWith('mapper/')) {
      const wanted = rel.slice('mapper/'.length);
      return (listDir(classBlock) ?? []).find((n) => n.startsWith('dm-') && readOptional(path.join(classBlock, n, 'dm', 'name'))?.trim() === wanted);
    }
    return !rel.includes('/') && this.isBlock(rel) ? rel : undefined;
  }

  /** The block devices that udev's database marks as members of a ZFS pool. */
  private members(pool: string): string[] {
    if (!this.zfsMembers) {
      this.zfsMembers = new Map();
      const dir = this.layout.onHost('/run/udev/data');
      for (const f of listDir(dir) ?? []) {
        const m = /^b([0-9]{1,10}:[0-9]{1,10})$/.exec(f);
        if (!m) continue;
        const text = readOptional(path.join(dir, f)) ?? '';
        if (!/^E:ID_FS_TYPE=zfs_member$/m.test(text)) continue;
        const label = /^E:ID_FS_LABEL=(.*)$/m.exec(text)?.[1]?.trim();
        const name = label === undefined ? undefined : this.byNumber(m[1]!);
        if (label !== undefined && name !== undefined) this.zfsMembers.set(label, [...(this.zfsMembers.get(label) ?? []), name]);
      }
    }
    return this.zfsMembers.get(pool) ?? [];
  }

  /** Every device of the btrfs filesystem that `device` belongs to (sys/fs/btrfs/UUID/devices). */
  private btrfsDevices(device: string): string[] {
    const dir = this.layout.onHost('/sys/fs/btrfs');
    for (const fsid of listDir(dir) ?? []) {
      const devices = listDir(path.join(dir, fsid, 'devices'));
      if (devices?.includes(device)) return devices.filter((d) => this.isBlock(d)).sort();
    }
    return [device];
  }

  /** The ways down from a block device to the controllers, each with its layers from the disk up. */
  down(name: string, depth: number): BlockPath[] {
    if (depth > MAX_DEPTH) return [];
    const dir = path.join(this.layout.classBlockDir, name);
    const slaves = (listDir(path.join(dir, 'slaves')) ?? []).filter((s) => this.isBlock(s));
    if (slaves.length > 0) {
      const layer = this.stackedLayer(name);
      return slaves.flatMap((s) => this.down(s, depth + 1).map((p) => withLayer(p, layer)));
    }
    let real: string;
    try {
      real = path.resolve(this.layout.classBlockDir, fs.readlinkSync(dir));
    } catch {
      return [];
    }
    if (readOptional(path.join(real, 'partition')) !== undefined) {
      const disk = path.basename(path.dirname(real));
      if (this.isBlock(disk)) return this.down(disk, depth + 1).map((p) => withLayer(p, { kind: 'partition', name }));
    }
    const controller = nearestPci(real);
    return controller ? [{ controller, layers: [{ kind: 'disk', name }] }] : [];
  }

  private stackedLayer(name: string): BlockLayer {
    const dir = path.join(this.layout.classBlockDir, name);
    if (/^md[0-9]/.test(name)) return { kind: 'md', name };
    if (/^bcache[0-9]/.test(name)) return { kind: 'bcache', name };
    const uuid = readOptional(path.join(dir, 'dm', 'uuid'))?.trim() ?? '';
    const label = readOptional(path.join(dir, 'dm', 'name'))?.trim();
    const kind: LayerKind = uuid.startsWith('LVM-') ? 'lvm' : uuid.startsWith('CRYPT-') ? 'crypt' : uuid.startsWith('mpath-') ? 'multipath' : 'dm';
    return label ? { kind, name, label } : { kind, name };
  }
}

interface MountEntry {
  majMin: string | undefined;
  target: string;
  fstype: string;
  source: string;
}

/** ID PARENT MAJ:MIN ROOT TARGET OPTIONS [OPTIONAL...] - FSTYPE SOURCE SUPEROPTIONS (proc(5)). */
function parseMountinfo(line: string): MountEntry | undefined {
  const f = line.split(' ');
  const sep = f.indexOf('-', 6);
  if (f.length < 10 || sep < 0 || f.length < sep + 3) return undefined;
  return { majMin: f[2], target: unescapeMount(f[4]!), fstype: f[sep + 1]!, source: unescapeMount(f[sep + 2]!) };
}

function withLayer(p: BlockPath, layer: BlockLayer): BlockPath {
  return { controller: p.controller, layers: [...p.layers, layer] };
}

/** The mounted device of a path: its top layer that is a block device. */
function topDevice(p: BlockPath): string {
  return [...p.layers].reverse().find((l) => l.kind !== 'zfs' && l.kind !== 'btrfs')!.name;
}

function nearestPci(real: string): string | undefined {
  const parts = real.split(path.sep);
  for (let i = parts.length - 1; i >= 0; i--) {
    const a = parseSysfsAddress(parts[i]!);
    if (a) return formatAddress(a);
  }
  return undefined;
}

function readLinkOptional(p: string): string | undefined {
  try {
    return fs.readlinkSync(p);
  } catch {
    return undefined;
  }
}

/** proc/mounts and mountinfo escape space, tab, newline and backslash as octal (\040 ...). */
export function unescapeMount(s: string): string {
  return s.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8)));
}
