import fs from 'node:fs';
import path from 'node:path';
import { isInterfaceEntry } from './net-index.js';
import { listDir, readOptional } from './sysfs-read.js';

/**
 * The devices a network interface carries traffic for, as the kernel shows them in sysfs. When an interface
 * gets an upper device (net/core/dev.c, __netdev_adjacent_dev_insert), the kernel links
 * sys/class/net/LOWER/upper_UPPER and sys/class/net/UPPER/lower_LOWER, and, for a master (a bridge, bond,
 * team or Open vSwitch datapath taking the interface as a port), sys/class/net/LOWER/master too. A VLAN,
 * macvlan or macvtap is an upper that is not a master. A bridge also lists its ports in UPPER/brif/ and a
 * bond in UPPER/bonding/slaves. The usual hypervisor layout: eno1 is a port of br0, and br0 holds the
 * address and the default route, while eno1 itself has neither.
 */
export type UpperKind = 'bridge' | 'bond' | 'team' | 'vlan' | 'macvlan' | 'macvtap' | 'openvswitch' | 'device';

export interface UpperHop {
  /** The upper device reached by this hop. */
  name: string;
  kind: UpperKind;
  /** port: the lower is a port of this master (its `master` link); upper: a VLAN/macvlan on the lower. */
  relation: 'port' | 'upper';
  /** The upper's other lower devices (a bond's other ports, a bridge's other ports). */
  others: string[];
}

/** Every upper device above `name`, each with the hops that lead to it, nearest first; at most MAX_DEPTH hops. */
export function upperChains(classNet: string, name: string): UpperHop[][] {
  const out: UpperHop[][] = [];
  const seen = new Set([name]);
  const walk = (lower: string, chain: UpperHop[]): void => {
    if (chain.length >= MAX_DEPTH) return;
    for (const hop of uppersOf(classNet, lower)) {
      if (seen.has(hop.name)) continue; // a loop in a hostile tree, or two paths to one upper: reported once
      seen.add(hop.name);
      const next = [...chain, hop];
      out.push(next);
      walk(hop.name, next);
    }
  };
  walk(name, []);
  return out;
}

const MAX_DEPTH = 8;

/** The upper devices directly above one interface. */
export function uppersOf(classNet: string, lower: string): UpperHop[] {
  const dir = path.join(classNet, lower);
  const entries = listDir(dir) ?? [];
  const master = entries.includes('master') ? masterName(dir) : undefined;
  const names = entries.filter((e) => e.startsWith('upper_')).map((e) => e.slice('upper_'.length));
  if (master !== undefined && !names.includes(master)) names.unshift(master);
  return names
    .filter((n) => isInterfaceEntry(n) && n !== '.' && n !== '..')
    .map((n) => ({ name: n, kind: upperKind(classNet, n), relation: n === master ? 'port' : 'upper', others: lowersOf(classNet, n).filter((l) => l !== lower) }));
}

function masterName(dir: string): string | undefined {
  const target = readLinkText(path.join(dir, 'master'));
  return target === undefined ? undefined : path.basename(target);
}

function readLinkText(link: string): string | undefined {
  try {
    return fs.readlinkSync(link);
  } catch {
    return undefined;
  }
}

/**
 * What kind of device an upper is: DEVTYPE in its uevent (bridge, bond, vlan ...), else what its directory
 * holds. A team has neither; an Open vSwitch datapath is the kernel's ovs-system device.
 */
export function upperKind(classNet: string, name: string): UpperKind {
  const dir = path.join(classNet, name);
  const devtype = /^DEVTYPE=(.*)$/m.exec(readOptional(path.join(dir, 'uevent')) ?? '')?.[1]?.trim();
  if (devtype === 'bridge' || devtype === 'bond' || devtype === 'vlan' || devtype === 'macvlan' || devtype === 'macvtap') return devtype;
  const entries = listDir(dir) ?? [];
  if (entries.includes('bridge') || entries.includes('brif')) return 'bridge';
  if (entries.includes('bonding')) return 'bond';
  if (name === 'ovs-system') return 'openvswitch';
  return 'device';
}

/** The lower devices of an upper: its lower_* links, else a bridge's brif/ or a bond's bonding/slaves. */
export function lowersOf(classNet: string, upper: string): string[] {
  const dir = path.join(classNet, upper);
  const entries = listDir(dir) ?? [];
  const lowers = entries.filter((e) => e.startsWith('lower_')).map((e) => e.slice('lower_'.length));
  if (lowers.length > 0) return lowers.filter(isInterfaceEntry).sort();
  const brif = listDir(path.join(dir, 'brif'));
  if (brif) return brif.filter(isInterfaceEntry).sort();
  const slaves = readOptional(path.join(dir, 'bonding', 'slaves'));
  if (slaves) return slaves.trim().split(/\s+/).filter(isInterfaceEntry).sort();
  return [];
}
