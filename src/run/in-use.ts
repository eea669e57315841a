import { errnoText, LockedError, PermissionError } from '../errors.js';
import type { Host } from '../host/host.js';
import type { Kernel } from '../kernel/kernel.js';
import { vfioNodeUsers, type NodeUser } from '../kernel/node-users.js';
import { parseSysfsAddress } from '../pci/address.js';
import { describeOwner, type Owner } from '../plan/ownership.js';
import { isVfioDriver } from '../plan/vfio-driver.js';
import { vfioNodes } from '../plan/vfio-nodes.js';
import type { PlanStep } from '../plan/writes.js';
import type { Journal } from './journal.js';

/** A group the plan would take devices of away from their vfio driver, and what its nodes answered. */
interface GroupUse {
  node: string;
  group: number;
  devices: string[];
  /** Their cdevs (/dev/vfio/devices/vfioN), where the kernel has them. */
  cdevs: string[];
  /** The errno of opening the group node (null: it opened, so nobody holds the group). */
  errno: string | null;
}

/**
 * Each group node the unbind steps from a vfio driver touch, with its devices and their cdevs. An unbind from a
 * host driver (a detach's) is left out: it does not wait for a VFIO user.
 */
function groupsToFree(host: Host, steps: PlanStep[]): Map<string, GroupUse> {
  const groups = new Map<string, GroupUse>();
  for (const step of steps) {
    if (step.kind !== 'unbind') continue;
    const addr = parseSysfsAddress(step.device);
    const dev = addr && host.reader.tryDevice(addr);
    const nodes = dev && isVfioDriver(dev.driver) ? vfioNodes(host.reader, dev) : null;
    if (!dev || !nodes?.group || dev.iommuGroup === null) continue;
    const g = groups.get(nodes.group) ?? { node: nodes.group, group: dev.iommuGroup, devices: [], cdevs: [], errno: null };
    g.devices.push(step.device);
    if (nodes.cdev) g.cdevs.push(nodes.cdev);
    groups.set(nodes.group, g);
  }
  return groups;
}

const who = (users: NodeUser[]): string => users.map((u) => `${u.comm} (pid ${u.pid})`).join(', ');

/** The devices of a group and its number: "0000:01:00.0, 0000:01:00.1 (IOMMU group 1)". */
export const groupWhat = (devices: string[], group: number): string => `${devices.join(', ')} (IOMMU group ${group})`;

/** Who holds a group in use, as a sentence; null when it is free. */
function holdersOf(g: GroupUse, users: Map<string, NodeUser[]>): string | null {
  const held = [g.node, ...g.cdevs].filter((n) => users.has(n)).map((n) => `${n} is held open by ${who(users.get(n)!)}`);
  if (held.length > 0) return `${held.join('; ')}.`;
  if (g.errno === 'EBUSY') return `${g.node} is held open by another process (the kernel answered EBUSY to vfioctl's open of it).`;
  if (g.errno !== null && g.errno !== 'ENOENT' && g.errno !== 'ENODEV') {
    return `vfioctl could not open ${g.node} to see whether a VM holds it: ${g.errno} (${errnoText(g.errno)}).`;
  }
  return null;
}

/** One line for a group in use, or null when it is free. */
function inUseLine(g: GroupUse, users: Map<string, NodeUser[]>): string | null {
  const holders = holdersOf(g, users);
  return holders && `${groupWhat(g.devices, g.group)}: ${holders}`;
}

/** A group in use: its node, the devices the plan would unbind from their vfio driver, and who holds it (a sentence). */
export interface HeldGroup {
  node: string;
  group: number;
  devices: string[];
  holders: string;
}

/**
 * The groups the plan's unbinds from a vfio driver would wait on: each is opened and closed at once through
 * the kernel (EBUSY: held), and its holders are looked up in ROOT/proc. Writes nothing.
 */
export function groupsInUse(host: Host, kernel: Kernel, steps: PlanStep[]): HeldGroup[] {
  return heldOf(host, probed(kernel, groupsToFree(host, steps)));
}

/** The groups, each with the errno of its group node's open (kernel.probeGroupNode). */
function probed(kernel: Kernel, groups: Map<string, GroupUse>): GroupUse[] {
  return [...groups.values()].map((g) => ({ ...g, errno: kernel.probeGroupNode(g.node) }));
}

/** The probed groups that are in use, each with who holds it. */
function heldOf(host: Host, groups: GroupUse[]): HeldGroup[] {
  // Who holds what, from ROOT/proc: for a busy group, and for the cdevs (an open cdev not yet bound to iommufd
  // leaves the group's open free, since Linux's group open counts only bound cdevs, yet its unbind would block
  // too). A group that opened fine with no cdev needs no look: with nothing to look for, /proc is not read.
  const look = groups.flatMap((g) => [...(g.errno === 'EBUSY' ? [g.node] : []), ...g.cdevs]);
  const users = vfioNodeUsers(host.root, look);
  return groups.flatMap((g) => {
    const holders = holdersOf(g, users);
    return holders ? [{ node: g.node, group: g.group, devices: g.devices, holders }] : [];
  });
}

/**
 * Groups whose node vfioctl may not open (EACCES, EPERM: not root): whether a VM holds them is unknown, which
 * is a permission problem, not a group in use (PermissionError, exit 9).
 */
function refuseUnopened(groups: GroupUse[], words: RunWords): void {
  const denied = groups.filter((g) => g.errno === 'EACCES' || g.errno === 'EPERM');
  if (denied.length === 0) return;
  throw new PermissionError(
    `${words.nothing}: vfioctl may not open ${denied.map((g) => `${g.node} (${g.errno}, ${errnoText(g.errno!)}; ${groupWhat(g.devices, g.group)})`).join(', ')}, and needs root to tell whether a VM holds the group.`,
    'Run vfioctl as root (sudo); nothing was written.',
  );
}

/** Whose run is refused: the words that open the error ("Nothing was given back") and name the run in a dry run's note. */
export interface RunWords {
  nothing: string;
  run: string;
}

export const REATTACH_WORDS: RunWords = { nothing: 'Nothing was given back', run: 'The reattach' };

/**
 * Before a reattach (or the hook's release), or a detach that moves a device from one vfio driver to another,
 * writes anything: unbinding a device from its vfio driver while a process (a running VM) holds its group or
 * its cdev open blocks in the kernel until that process lets go (docs/sysfs-semantics.md, "A group in use").
 * Any group in use (groupsInUse) refuses the whole run with a LockedError (exit 12) naming it, its devices, who
 * holds it and what to stop; nothing is written. --force does not skip this: the alternative is a hang. A group
 * node vfioctl may not open is a PermissionError (exit 9) first: without root, whether it is held is unknown.
 */
export function refuseGroupsInUse(host: Host, kernel: Kernel, journal: Journal, steps: PlanStep[], words: RunWords = REATTACH_WORDS): void {
  const groups = probed(kernel, groupsToFree(host, steps));
  refuseUnopened(groups, words);
  const held = heldOf(host, groups);
  if (held.length === 0) return;
  const owners = new Map<string, Owner>();
  for (const d of held.flatMap((g) => g.devices)) {
    const o = journal.data.devices[d]?.owner;
    if (o?.kind === 'domain') owners.set(`${o.uuid} ${o.name}`, o);
  }
  const stop =
    owners.size > 0
      ? `Stop the VM first: ${[...owners.values()].map((o) => `\`virsh destroy ${o.name}\` (the journal records ${describeOwner(o)} for them)`).join(', ')}, then run this again.`
      : 'Stop the process holding the node first (a VM: `virsh destroy NAME`, or end it), then run this again.';
  throw new LockedError(
    `${words.nothing}: a process still uses these devices through VFIO (most likely a running VM), and unbinding them from their vfio driver would block until it lets go:\n${held.map((g) => `  - ${groupWhat(g.devices, g.group)}: ${g.holders}`).join('\n')}`,
    `${stop} --force does not override this.`,
  );
}

/**
 * For a dry run, which opens nothing: the groups the run would find in use, from ROOT/proc alone (a holder
 * whose fds vfioctl may not read goes unseen), as notes saying the run itself would be refused.
 */
export function inUseNotes(host: Host, steps: PlanStep[], words: RunWords = REATTACH_WORDS): string[] {
  const groups = [...groupsToFree(host, steps).values()];
  const users = vfioNodeUsers(host.root, groups.flatMap((g) => [g.node, ...g.cdevs]));
  return groups.flatMap((g) => {
    const line = inUseLine(g, users);
    return line ? [`In use: ${line} ${words.run} itself would be refused (exit 12) until it lets go.`] : [];
  });
}
