import fs from 'node:fs';
import path from 'node:path';
import { formatAddress, parseSysfsAddress } from '../pci/address.js';
import type { PciDevice } from '../pci/device.js';
import type { HostReader } from './reader.js';
import { listDir, readOptional, readTextFile } from './sysfs-read.js';

/**
 * What the host is using a device for: its network interfaces (up? routes? the default route?) and the
 * block devices behind it that are mounted or used as swap. Read from proc/net/route, proc/net/ipv6_route,
 * proc/net/if_inet6, proc/mounts, proc/swaps and sys/class/block, once, lazily.
 */
export interface NetUse {
  name: string;
  operstate: string;
  up: boolean;
  /** Carries a default route (IPv4 or IPv6). */
  defaultRoute: boolean;
  /** Number of routes through it (an IPv4 address always brings its prefix route). */
  routes: number;
  /** Has a global IPv6 address, or an IPv4 route (which an assigned address creates). */
  addresses: boolean;
}

export interface BlockUse {
  /** The block device in use: sda1, nvme0n1p2, dm-0 (through its slaves) ... */
  device: string;
  mountpoint?: string;
  swap?: boolean;
}

export interface DeviceUse {
  net: NetUse[];
  block: BlockUse[];
}

interface RouteFacts {
  count: Map<string, number>;
  defaults: Set<string>;
  inet6: Set<string>;
}

export class HostUsage {
  private routeFacts: RouteFacts | undefined;
  private blockByController: Map<string, BlockUse[]> | undefined;

  constructor(private readonly reader: HostReader) {}

  of(dev: PciDevice): DeviceUse {
    return { net: dev.netInterfaces.map((n) => this.netUse(n)), block: [...(this.blocks().get(dev.name) ?? []), ...this.sharedFilesystems(dev)] };
  }

  /**
   * 9p and virtiofs mounts served by this virtio device (a VM's root filesystem often is one): the mount's
   * source is the device's tag, which the kernel shows in DEV/virtioN/mount_tag (9p) or DEV/virtioN/tag.
   */
  private sharedFilesystems(dev: PciDevice): BlockUse[] {
    if (dev.vendor !== '1af4') return [];
    const mounts = this.sharedMounts();
    if (mounts.size === 0) return [];
    const out: BlockUse[] = [];
    const dir = this.reader.layout.device(dev.address);
    for (const e of listDir(dir) ?? []) {
      if (!/^virtio[0-9]+$/.test(e)) continue;
      for (const f of ['mount_tag', 'tag']) {
        const tag = readOptional(path.join(dir, e, f))?.replace(/\0/g, '').trim();
        for (const m of (tag && mounts.get(tag)) || []) out.push({ device: `${m.fstype}:${tag}`, mountpoint: m.target });
      }
    }
    return out;
  }

  private shared: Map<string, { target: string; fstype: string }[]> | undefined;
  private sharedMounts(): Map<string, { target: string; fstype: string }[]> {
    if (this.shared) return this.shared;
    this.shared = new Map();
    for (const line of (readTextFile(this.reader.layout.procMounts) ?? '').split('\n')) {
      const [source, target, fstype] = line.split(' ');
      if (!source || !target || (fstype !== '9p' && fstype !== 'virtiofs')) continue;
      const list = this.shared.get(source) ?? [];
      list.push({ target: unescapeMount(target), fstype });
      this.shared.set(source, list);
    }
    return this.shared;
  }

  private netUse(name: string): NetUse {
    const r = this.routes();
    const operstate = this.reader.interfaceOperstate(name) ?? 'unknown';
    const routes = r.count.get(name) ?? 0;
    return {
      name,
      operstate,
      up: operstate === 'up',
      defaultRoute: r.defaults.has(name),
      routes,
      addresses: routes > 0 || r.inet6.has(name),
    };
  }

  private routes(): RouteFacts {
    if (this.routeFacts) return this.routeFacts;
    const count = new Map<string, number>();
    const defaults = new Set<string>();
    const inet6 = new Set<string>();
    const bump = (iface: string): void => void count.set(iface, (count.get(iface) ?? 0) + 1);
    // proc/net/route: Iface Destination Gateway Flags RefCnt Use Metric Mask ...; hex, little-endian.
    for (const line of (readTextFile(this.reader.layout.procRoute) ?? '').split('\n').slice(1)) {
      const f = line.trim().split(/\s+/);
      if (f.length < 8) continue;
      const [iface, dest, , , , , , mask] = f as [string, string, string, string, string, string, string, string];
      bump(iface);
      if (dest === '00000000' && mask === '00000000') defaults.add(iface);
    }
    // proc/net/ipv6_route: dest destlen src srclen nexthop metric refcnt use flags iface.
    for (const line of (readTextFile(this.reader.layout.procIpv6Route) ?? '').split('\n')) {
      const f = line.trim().split(/\s+/);
      if (f.length < 10) continue;
      const iface = f[9]!;
      if (iface === 'lo') continue;
      if (/^0{32}$/.test(f[0]!) && f[1] === '00') defaults.add(iface);
    }
    // proc/net/if_inet6: addr ifindex prefixlen scope flags iface; scope 00 = global.
    for (const line of (readTextFile(this.reader.layout.procIfInet6) ?? '').split('\n')) {
      const f = line.trim().split(/\s+/);
      if (f.length >= 6 && f[3] === '00') inet6.add(f[5]!);
    }
    this.routeFacts = { count, defaults, inet6 };
    return this.routeFacts;
  }

  /** Maps each PCI controller (by address) to its block devices that are mounted or swap. */
  private blocks(): Map<string, BlockUse[]> {
    if (this.blockByController) return this.blockByController;
    const map = new Map<string, BlockUse[]>();
    const add = (source: string, use: Omit<BlockUse, 'device'>): void => {
      const block = this.blockName(source);
      if (!block) return;
      for (const controller of this.controllersOf(block, 0)) {
        const list = map.get(controller) ?? [];
        list.push({ device: block, ...use });
        map.set(controller, list);
      }
    };
    for (const line of (readTextFile(this.reader.layout.procMounts) ?? '').split('\n')) {
      const [source, target] = line.split(' ');
      if (source?.startsWith('/dev/') && target) add(source, { mountpoint: unescapeMount(target) });
    }
    for (const line of (readTextFile(this.reader.layout.procSwaps) ?? '').split('\n').slice(1)) {
      const [source, type] = line.trim().split(/\s+/);
      if (source?.startsWith('/dev/') && type === 'partition') add(source, { swap: true });
    }
    this.blockByController = map;
    return map;
  }

  /** /dev/sda1 → sda1; /dev/mapper/vg-root → dm-N (by dm/name). */
  private blockName(source: string): string | undefined {
    const rel = unescapeMount(source).slice('/dev/'.length);
    const classBlock = this.reader.layout.classBlockDir;
    if (rel.startsWith('mapper/')) {
      const wanted = rel.slice('mapper/'.length);
      for (const n of listDir(classBlock) ?? []) {
        if (n.startsWith('dm-') && readOptional(path.join(classBlock, n, 'dm', 'name'))?.trim() === wanted) return n;
      }
      return undefined;
    }
    if (rel.includes('/') || rel === '' || rel === '.' || rel === '..') return undefined;
    return listDir(path.join(classBlock, rel)) ? rel : undefined;
  }

  /** The PCI controllers a block device lives on: the nearest PCI directory above it, or its slaves'. */
  private controllersOf(block: string, depth: number): string[] {
    if (depth > 8) return [];
    const classBlock = this.reader.layout.classBlockDir;
    const slaves = listDir(path.join(classBlock, block, 'slaves')) ?? [];
    if (slaves.length > 0) return slaves.flatMap((s) => this.controllersOf(s, depth + 1));
    let real: string;
    try {
      real = path.resolve(classBlock, readLink(path.join(classBlock, block)));
    } catch {
      return [];
    }
    const parts = real.split(path.sep);
    for (let i = parts.length - 1; i >= 0; i--) {
      const a = parseSysfsAddress(parts[i]!);
      if (a) return [formatAddress(a)];
    }
    return [];
  }
}

function readLink(p: string): string {
  return fs.readlinkSync(p);
}

/** proc/mounts escapes space, tab, newline and backslash as octal (\040 ...). */
function unescapeMount(s: string): string {
  return s.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8)));
}
