import fs from 'node:fs';
import path from 'node:path';
import { listDirOrEmpty } from '../../host/sysfs-read.js';
import { confined } from './confined.js';

// The /dev/vfio nodes of a simulated host, each a plain file standing for the character device (mode 0600,
// owned by whoever made the host: root, as devtmpfs makes them). Linux: vfio_group_alloc() makes /dev/vfio/N
// (noiommu-N for a no-IOMMU group) when the first device of a group binds to a vfio driver and the group's
// last vfio device going releases it; /dev/vfio/vfio (the container) exists while vfio is loaded; the cdev
// /dev/vfio/devices/vfioN follows its DEV/vfio-dev/vfioN/dev (vfio-cdev.ts). A node that stays keeps its owner.

const isVfio = (driver: string | null): boolean => driver !== null && (driver === 'vfio-pci' || /[-_]vfio[-_]pci$/.test(driver));

function driverOf(devLink: string): string | null {
  try {
    return path.basename(fs.readlinkSync(path.join(devLink, 'driver')));
  } catch {
    return null;
  }
}

/** The nodes the tree says should exist now, relative to ROOT/dev/vfio. */
function wantedNodes(root: string, vfioLoaded: boolean): Set<string> {
  const want = new Set<string>();
  if (vfioLoaded) want.add('vfio');
  const groupsDir = path.join(root, 'sys', 'kernel', 'iommu_groups');
  for (const g of listDirOrEmpty(groupsDir)) {
    if (!/^[0-9]+$/.test(g)) continue;
    const members = listDirOrEmpty(path.join(groupsDir, g, 'devices'));
    if (!members.some((m) => isVfio(driverOf(path.join(groupsDir, g, 'devices', m))))) continue;
    const name = fs.existsSync(path.join(groupsDir, g, 'name')) ? fs.readFileSync(path.join(groupsDir, g, 'name'), 'utf8').trim() : '';
    want.add(name === 'vfio-noiommu' ? `noiommu-${g}` : g);
  }
  const bus = path.join(root, 'sys', 'bus', 'pci', 'devices');
  // Only a vfio-dev entry with a device number has a node (a kernel without the cdev makes the directory alone).
  for (const a of listDirOrEmpty(bus)) {
    for (const c of listDirOrEmpty(path.join(bus, a, 'vfio-dev'))) if (/^vfio[0-9]+$/.test(c) && fs.existsSync(path.join(bus, a, 'vfio-dev', c, 'dev'))) want.add(`devices/${c}`);
  }
  return want;
}

/** What exists now under ROOT/dev/vfio (group nodes, the container, the cdevs). */
function presentNodes(dir: string): Set<string> {
  const have = new Set<string>();
  for (const e of listDirOrEmpty(dir)) if (e === 'vfio' || /^(noiommu-)?[0-9]+$/.test(e)) have.add(e);
  for (const c of listDirOrEmpty(path.join(dir, 'devices'))) if (/^vfio[0-9]+$/.test(c)) have.add(`devices/${c}`);
  return have;
}

/** Brings ROOT/dev/vfio in line with the tree: makes the nodes that should exist (0600) and removes the others. */
export function syncVfioNodes(root: string, vfioLoaded: boolean): void {
  const dir = path.join(root, 'dev', 'vfio');
  const want = wantedNodes(root, vfioLoaded);
  const have = presentNodes(dir);
  const tree = confined(root);
  for (const n of have) if (!want.has(n)) tree.unlink(path.join(dir, n));
  for (const n of want) {
    if (have.has(n)) continue;
    tree.mkdirs(path.dirname(path.join(dir, n)));
    tree.writeFile(path.join(dir, n), '', 0o600);
  }
}
