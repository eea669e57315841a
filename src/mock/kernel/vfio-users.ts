import fs from 'node:fs';
import path from 'node:path';
import { listDirOrEmpty } from '../../host/sysfs-read.js';
import { confined } from './confined.js';
import { readSimState, writeSimState, type SimState } from './sim-state.js';

// Processes that hold /dev/vfio nodes of a simulated host open: a VM (QEMU) with its group fd, or with a device
// cdev bound to iommufd. Kept in the sim state (`openNodes`), and shown where Linux shows them: each holder is
// ROOT/proc/PID with its `comm` and an fd link to the node. What Linux does about it (docs/sysfs-semantics.md,
// "A group in use"): opening the group node answers EBUSY, and unbinding a member from its vfio driver blocks
// until the holder lets go, which the simulated kernel refuses to pretend (simulated.ts).

export interface NodeHolder {
  pid: number;
  comm: string;
}

/** Marks `node` (/dev/vfio/N, /dev/vfio/noiommu-N or /dev/vfio/devices/vfioN) as held open by `holder` (tests). */
export function holdVfioNode(root: string, node: string, holder: NodeHolder): void {
  const state = readSimState(root);
  state.openNodes = [...(state.openNodes ?? []).filter((o) => o.node !== node), { node, pid: holder.pid }];
  writeSimState(root, state);
  const tree = confined(root);
  const dir = path.join(root, 'proc', String(holder.pid));
  tree.mkdirs(path.join(dir, 'fd'));
  tree.writeFile(path.join(dir, 'comm'), `${holder.comm}\n`);
  const fds = fs.readdirSync(path.join(dir, 'fd'));
  fs.symlinkSync(node, path.join(dir, 'fd', String(3 + fds.length)));
}

/** The holder closes `node` (its process ends): the fd link goes, and the process directory with its last one. */
export function releaseVfioNode(root: string, node: string): void {
  const state = readSimState(root);
  const held = (state.openNodes ?? []).filter((o) => o.node === node);
  state.openNodes = (state.openNodes ?? []).filter((o) => o.node !== node);
  writeSimState(root, state);
  for (const { pid } of held) {
    const fdDir = path.join(root, 'proc', String(pid), 'fd');
    for (const fd of fs.readdirSync(fdDir)) if (fs.readlinkSync(path.join(fdDir, fd)) === node) fs.unlinkSync(path.join(fdDir, fd));
    if (fs.readdirSync(fdDir).length === 0) fs.rmSync(path.join(root, 'proc', String(pid)), { recursive: true });
  }
}

/**
 * Whether IOMMU group `group` is in use: its group node is held, or a member's cdev is (QEMU binds a cdev it
 * opens to iommufd at once, and a bound cdev makes the group's open answer EBUSY too).
 */
export function groupInUse(root: string, state: SimState, group: number): boolean {
  const held = new Set((state.openNodes ?? []).map((o) => o.node));
  if (held.has(`/dev/vfio/${group}`) || held.has(`/dev/vfio/noiommu-${group}`)) return true;
  const members = path.join(root, 'sys', 'kernel', 'iommu_groups', String(group), 'devices');
  return listDirOrEmpty(members).some((m) => listDirOrEmpty(path.join(members, m, 'vfio-dev')).some((c) => held.has(`/dev/vfio/devices/${c}`)));
}

/** The IOMMU group of a device directory, or null. */
export function groupOfDeviceDir(devDir: string): number | null {
  try {
    return Number(path.basename(fs.readlinkSync(path.join(devDir, 'iommu_group'))));
  } catch {
    return null;
  }
}
