import path from 'node:path';
import { HostTreeError } from '../errors.js';
import { listDir, readLinkWithin } from './sysfs-read.js';

/** The network interfaces of one PCI function: in DEV/net, and (virtio-net) in DEV/virtioN/net. */
export interface FunctionInterfaces {
  direct: string[];
  virtio: string[];
}

/** Names the kernel can give an interface (IFNAMSIZ 16, with its NUL; no '/'). */
export function isInterfaceEntry(name: string): boolean {
  return name.length > 0 && name.length < 16 && !name.includes('/');
}

/**
 * Every network interface of the host, by the directory of the device it belongs to, from one listing of
 * sys/class/net and one link per interface. `list` asks this instead of looking for DEV/net in each of
 * 10,000 functions, most of which have none: the cost follows the interfaces, not the functions.
 *
 * The kernel makes sys/class/net/IF, a link to DEV/net/IF, with the interface, and shows both to the same
 * network namespaces, so both give the same interfaces. Undefined when the tree has no sys/class/net
 * (a hand-made tree): the caller then looks in each device directory.
 */
export function interfacesByDevice(classNetDir: string, realRoot: string, sysDevices: string): Map<string, FunctionInterfaces> | undefined {
  const names = listDir(classNetDir);
  if (names === undefined) return undefined;
  const out = new Map<string, FunctionInterfaces>();
  for (const name of names) {
    if (!isInterfaceEntry(name)) continue;
    let target: string | undefined;
    try {
      target = readLinkWithin(`${classNetDir}/${name}`, realRoot, sysDevices);
    } catch (err) {
      // A link leading out of sys/devices (or not a link) belongs to no device of this tree: not ours to judge here.
      if (err instanceof HostTreeError) continue;
      throw err;
    }
    if (target === undefined) continue;
    // DEV/net/IF, or DEV/virtioN/net/IF; virtual interfaces (sys/devices/virtual/net/IF) match no PCI directory.
    const netDir = path.dirname(target);
    if (path.basename(target) !== name || path.basename(netDir) !== 'net') continue;
    let owner = path.dirname(netDir);
    const virtio = /^virtio[0-9]+$/.test(path.basename(owner));
    if (virtio) owner = path.dirname(owner);
    let entry = out.get(owner);
    if (entry === undefined) {
      entry = { direct: [], virtio: [] };
      out.set(owner, entry);
    }
    (virtio ? entry.virtio : entry.direct).push(name);
  }
  return out;
}
