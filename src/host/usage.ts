import path from 'node:path';
import type { PciDevice } from '../pci/device.js';
import type { HostReader } from './reader.js';
import { BlockStack, unescapeMount, type BlockLayer } from './block-stack.js';
import { upperChains, type UpperHop } from './net-uppers.js';
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
  /** IPv4 routes through it other than the default route, as prefixes (192.0.2.0/24). */
  prefixes?: string[];
  /**
   * The upper devices this interface carries traffic for (src/host/net-uppers.ts) that are up and carry
   * routes or addresses: br0 above eno1, br0 above bond0 above eno1. Absent when there are none.
   */
  uppers?: UpperUse[];
}

export interface UpperUse extends Omit<NetUse, 'uppers'> {
  /** The hops from the interface to this upper, nearest first. */
  chain: UpperHop[];
}

export interface BlockUse {
  /** The block device in use: sda1, nvme0n1p2, dm-0, a ZFS pool's member ... */
  device: string;
  mountpoint?: string;
  swap?: boolean;
  /** The layers from this controller's disk up to what is mounted, when there is more than a partition: dm, md, bcache, a ZFS pool, btrfs. */
  layers?: BlockLayer[];
}

export interface DeviceUse {
  net: NetUse[];
  block: BlockUse[];
}

interface RouteFacts {
  count: Map<string, number>;
  prefixes: Map<string, string[]>;
  defaults: Set<string>;
  inet6: Set<string>;
}

export class HostUsage {
  private routeFacts: RouteFacts | undefined;
  private blockByController: Map<string, BlockUse[]> | undefined;

  constructor(private readonly reader: HostReader) {}

  of(dev: PciDevice): DeviceUse {
    // Most devices have neither: `list` asks for each of 10,000 functions, so nothing is copied then.
    const own = this.blocks().get(dev.name);
    const shared = this.sharedFilesystems(dev);
    return { net: dev.netInterfaces.map((n) => this.netUse(n)), block: own === undefined ? shared : [...own, ...shared] };
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
    const use = this.interfaceFacts(name);
    const uppers = this.uppersCarrying(name);
    return uppers.length > 0 ? { ...use, uppers } : use;
  }

  private interfaceFacts(name: string): NetUse {
    const r = this.routes();
    const operstate = this.reader.interfaceOperstate(name) ?? 'unknown';
    const routes = r.count.get(name) ?? 0;
    const prefixes = r.prefixes.get(name);
    return {
      name,
      operstate,
      up: operstate === 'up',
      defaultRoute: r.defaults.has(name),
      routes,
      addresses: routes > 0 || r.inet6.has(name),
      ...(prefixes ? { prefixes } : {}),
    };
  }

  /**
   * The upper devices above an interface that carry traffic: up (or 'unknown', as many virtual devices
   * report) with routes or addresses. An Open vSwitch datapath counts whenever the interface is up: the
   * kernel links its ports to it, but not its bridges' own interfaces, which carry the addresses.
   */
  private uppersCarrying(name: string): UpperUse[] {
    const out: UpperUse[] = [];
    const chains = upperChains(this.reader.layout.classNetDir, name);
    const portUp = chains.length > 0 && this.reader.interfaceOperstate(name) === 'up';
    for (const chain of chains) {
      const top = chain[chain.length - 1]!;
      const facts = this.interfaceFacts(top.name);
      const live = facts.up || facts.operstate === 'unknown';
      if ((top.kind === 'openvswitch' && portUp) || (live && (facts.defaultRoute || facts.routes > 0 || facts.addresses))) out.push({ ...facts, chain });
    }
    return out;
  }

  private routes(): RouteFacts {
    if (this.routeFacts) return this.routeFacts;
    const count = new Map<string, number>();
    const prefixes = new Map<string, string[]>();
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
      else prefixes.set(iface, [...(prefixes.get(iface) ?? []), `${dottedQuad(dest)}/${prefixLength(mask)}`]);
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
    this.routeFacts = { count, prefixes, defaults, inet6 };
    return this.routeFacts;
  }

  /** Maps each PCI controller (by address) to the block devices on it that are mounted or swap (src/host/block-stack.ts). */
  private blocks(): Map<string, BlockUse[]> {
    if (this.blockByController) return this.blockByController;
    const map = new Map<string, BlockUse[]>();
    for (const site of new BlockStack(this.reader.layout).sites()) {
      const use: BlockUse = { device: site.device };
      if (site.mountpoint !== undefined) use.mountpoint = site.mountpoint;
      if (site.swap) use.swap = true;
      // Only a path with more than a disk and its partition says something the device name does not.
      if (site.path.layers.some((l) => l.kind !== 'disk' && l.kind !== 'partition')) use.layers = site.path.layers;
      const list = map.get(site.path.controller) ?? [];
      if (!list.some((u) => JSON.stringify(u) === JSON.stringify(use))) list.push(use);
      map.set(site.path.controller, list);
    }
    this.blockByController = map;
    return map;
  }
}

/** proc/net/route's little-endian hex address → 192.0.2.0. */
function dottedQuad(hex: string): string {
  return [3, 2, 1, 0].map((i) => parseInt(hex.slice(2 * i, 2 * i + 2), 16) || 0).join('.');
}

function prefixLength(maskHex: string): number {
  let n = parseInt(maskHex, 16) >>> 0;
  let bits = 0;
  while (n) {
    bits += n & 1;
    n >>>= 1;
  }
  return bits;
}

