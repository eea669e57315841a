import fs from 'node:fs';
import { errnoOf, PermissionError, VfioctlError } from '../errors.js';
import type { NodeOwner } from '../host/accounts.js';
import type { Host } from '../host/host.js';
import { groupNode } from '../host/isolation.js';
import { parseSysfsAddress } from '../pci/address.js';
import { releaseAtLeast } from '../pci/kernel-rules.js';
import { vfioNodes } from '../plan/vfio-nodes.js';
import type { DeviceOutcome } from './detach.js';
import { Journal, type NodeRecord } from './journal.js';
import type { WriteSession } from './session.js';

/**
 * `detach --owner USER[:GROUP]`, for QEMU run by hand as an unprivileged user (libvirt labels the nodes
 * itself): after the move, each moved group's /dev/vfio/N and each device's /dev/vfio/devices/vfioN (where the
 * kernel has the cdev) go to that user, through the kernel seam (Kernel.chown, never through a symlink). The
 * journal records each node's owner and mode first; `reattach` gives them back before the devices leave vfio.
 * It does not outlive the node: the kernel removes /dev/vfio/N when the group leaves vfio, and makes it again
 * root:root 0600 (a udev rule is the persistent way, README "/dev/vfio ownership").
 */
function nodesOf(session: Pick<WriteSession, 'host'>, address: string): string[] {
  const { reader } = session.host;
  const addr = parseSysfsAddress(address);
  const dev = addr ? reader.tryDevice(addr) : null;
  if (!dev) return [];
  const n = vfioNodes(reader, dev);
  if (!n) return [];
  return [dev.iommuGroup === null ? null : groupNode(reader, dev.iommuGroup), n.cdev].filter((p): p is string => p !== null);
}

function statOf(session: Pick<WriteSession, 'host'>, node: string): fs.Stats | undefined {
  return fs.lstatSync(session.host.reader.layout.onHost(node), { throwIfNoEntry: false });
}

/** Gives the nodes of the journal's devices among `addresses` to `owner`; returns notes saying what it did. */
export function giveNodes(session: WriteSession, addresses: string[], owner: NodeOwner): string[] {
  const { journal, kernel } = session;
  session.host.reader.invalidate();
  const todo = new Map<string, NodeRecord>();
  for (const a of addresses) {
    const rec = journal.data.devices[a];
    if (!rec) continue;
    for (const node of nodesOf(session, a)) {
      const st = statOf(session, node);
      if (!st || st.isSymbolicLink()) continue;
      const before = rec.nodes?.find((r) => r.path === node) ?? todo.get(node) ?? { path: node, uid: st.uid, gid: st.gid, mode: st.mode & 0o7777 };
      if (!rec.nodes?.some((r) => r.path === node)) rec.nodes = [...(rec.nodes ?? []), before];
      todo.set(node, before);
    }
  }
  if (todo.size === 0) return [];
  journal.save();
  for (const node of todo.keys()) {
    try {
      kernel.chown(node, owner.uid, owner.gid);
    } catch (err) {
      throw new PermissionError(
        `The devices moved, but ${node} could not be given to ${owner.spec}: ${errnoOf(err) ?? String(err)}.`,
        'Run vfioctl as root; `vfioctl reattach` gives back the devices and the nodes already changed.',
      );
    }
  }
  return [`Gave ${[...todo.keys()].join(', ')} to ${owner.spec} (uid ${owner.uid}, gid ${owner.gid}) until reattach.`];
}

/** Before a reattach: the recorded nodes of these devices get their owner and mode back; a node gone needs nothing. */
export function restoreNodes(session: WriteSession, addresses: string[]): string[] {
  const { journal, kernel } = session;
  const seen = new Map<string, NodeRecord>();
  for (const a of addresses) for (const r of journal.data.devices[a]?.nodes ?? []) if (!seen.has(r.path)) seen.set(r.path, r);
  const notes: string[] = [];
  for (const r of seen.values()) {
    const st = statOf(session, r.path);
    if (!st || st.isSymbolicLink()) continue;
    try {
      kernel.chown(r.path, r.uid, r.gid, r.mode);
    } catch (err) {
      notes.push(`Could not give ${r.path} back to uid ${r.uid}, gid ${r.gid} (mode ${r.mode.toString(8)}): ${errnoOf(err) ?? String(err)}; the kernel removes it when its group leaves vfio.`);
    }
  }
  return notes;
}

/** What `detach --dry-run --owner` would give to the owner (the `nodes` of its JSON, README "/dev/vfio ownership"). */
export interface PlannedNodes {
  owner: string;
  uid: number;
  gid: number;
  /** The nodes giveNodes would chown after the moves, in order: each group's /dev/vfio/N, and the cdev of each device on a vfio driver now. */
  paths: string[];
  /**
   * Devices that would move on a kernel that may have the vfio cdev (CONFIG_VFIO_DEVICE_CDEV, Linux 6.6 and
   * later): each gets its /dev/vfio/devices/vfioN at bind, numbered by the kernel then, and that node goes too.
   */
  cdevsAtBind: string[];
}

/**
 * The nodes a detach with `--owner` would give away, as runDetach decides them: the devices it moves and those
 * vfioctl's journal already holds; the group node of a group that has yet to reach vfio is the one the kernel
 * makes then (`/dev/vfio/N`, or `noiommu-N`). A journal that cannot be read (Journal's typed errors: damaged,
 * not a file, not readable) holds nothing here, and a sentence in `notes` (the dry run's) says so and why.
 */
export function plannedNodes(host: Host, devices: DeviceOutcome[], owner: NodeOwner, notes: string[]): PlannedNodes {
  let held: Record<string, unknown> = {};
  try {
    held = new Journal(host.reader.layout.stateDir).data.devices;
  } catch (err) {
    if (!(err instanceof VfioctlError)) throw err;
    notes.push(`${err.message} The nodes of devices vfioctl already holds are not listed, and the detach itself would stop on it.`);
  }
  const paths = new Set<string>();
  const cdevsAtBind: string[] = [];
  const cdevKernel = releaseAtLeast(host.release, 6, 6);
  for (const d of devices) {
    if (d.action === 'would-move') {
      paths.add(groupNode(host.reader, d.group));
      if (cdevKernel) cdevsAtBind.push(d.address);
    } else if (held[d.address] !== undefined) {
      for (const node of nodesOf({ host }, d.address)) if (statOf({ host }, node)?.isSymbolicLink() === false) paths.add(node);
    }
  }
  return { owner: owner.spec, uid: owner.uid, gid: owner.gid, paths: [...paths], cdevsAtBind };
}
