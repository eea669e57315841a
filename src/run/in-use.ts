import { errnoText, LockedError } from '../errors.js';
import type { Host } from '../host/host.js';
import type { Kernel } from '../kernel/kernel.js';
import { vfioNodeUsers, type NodeUser } from '../kernel/node-users.js';
import { parseSysfsAddress } from '../pci/address.js';
import { describeOwner, type Owner } from '../plan/ownership.js';
import { vfioNodes } from '../plan/vfio-nodes.js';
import type { PlanStep } from '../plan/writes.js';
import type { Journal } from './journal.js';

/** A group the plan would take devices of away from their vfio driver, and what its nodes answered. */
interface GroupUse {
  node: string;
  devices: string[];
  /** Their cdevs (/dev/vfio/devices/vfioN), where the kernel has them. */
  cdevs: string[];
  /** The errno of opening the group node (null: it opened, so nobody holds the group). */
  errno: string | null;
}

/** Each group node the unbind steps touch, with its devices and their cdevs. */
function groupsToFree(host: Host, steps: PlanStep[]): Map<string, GroupUse> {
  const groups = new Map<string, GroupUse>();
  for (const step of steps) {
    if (step.kind !== 'unbind') continue;
    const addr = parseSysfsAddress(step.device);
    const dev = addr && host.reader.tryDevice(addr);
    const nodes = dev ? vfioNodes(host.reader, dev) : null;
    if (!nodes?.group) continue;
    const g = groups.get(nodes.group) ?? { node: nodes.group, devices: [], cdevs: [], errno: null };
    g.devices.push(step.device);
    if (nodes.cdev) g.cdevs.push(nodes.cdev);
    groups.set(nodes.group, g);
  }
  return groups;
}

const who = (users: NodeUser[]): string => users.map((u) => `${u.comm} (pid ${u.pid})`).join(', ');

/** One line for a group in use, or null when it is free. */
function inUseLine(g: GroupUse, users: Map<string, NodeUser[]>): string | null {
  const what = `${g.devices.join(', ')} (IOMMU group ${g.node.replace(/^.*[^0-9]/, '')})`;
  const held = [g.node, ...g.cdevs].filter((n) => users.has(n)).map((n) => `${n} is held open by ${who(users.get(n)!)}`);
  if (held.length > 0) return `${what}: ${held.join('; ')}.`;
  if (g.errno === 'EBUSY') return `${what}: ${g.node} is held open by another process (the kernel answered EBUSY to vfioctl's open of it).`;
  if (g.errno !== null && g.errno !== 'ENOENT' && g.errno !== 'ENODEV') {
    return `${what}: vfioctl could not open ${g.node} to see whether a VM holds it: ${g.errno} (${errnoText(g.errno)}).`;
  }
  return null;
}

/**
 * Before a reattach (or the hook's release) writes anything: unbinding a device from its vfio driver while a
 * process (a running VM) holds its group or its cdev open blocks in the kernel until that process lets go
 * (docs/sysfs-semantics.md, "A group in use"), so each group the plan's unbind steps touch is opened and closed
 * at once through the kernel (EBUSY: held), and the holders are looked up in ROOT/proc. Any group in use refuses
 * the whole run with a LockedError (exit 12) naming it, its devices, who holds it and what to stop; nothing is
 * written. --force does not skip this: the alternative is a hang.
 */
export function refuseGroupsInUse(host: Host, kernel: Kernel, journal: Journal, steps: PlanStep[]): void {
  const groups = [...groupsToFree(host, steps).values()];
  for (const g of groups) g.errno = kernel.probeGroupNode(g.node);
  // Who holds what, from ROOT/proc: for a busy group, and for the cdevs (an open cdev not yet bound to iommufd
  // leaves the group's open free, yet its unbind would block too).
  const look = groups.flatMap((g) => [...(g.errno === 'EBUSY' ? [g.node] : []), ...g.cdevs]);
  const users = vfioNodeUsers(host.root, look);
  const lines: string[] = [];
  const owners = new Map<string, Owner>();
  for (const g of groups) {
    const line = inUseLine(g, users);
    if (!line) continue;
    lines.push(`  - ${line}`);
    for (const d of g.devices) {
      const o = journal.data.devices[d]?.owner;
      if (o?.kind === 'domain') owners.set(`${o.uuid} ${o.name}`, o);
    }
  }
  if (lines.length === 0) return;
  const stop =
    owners.size > 0
      ? `Stop the VM first: ${[...owners.values()].map((o) => `\`virsh destroy ${o.name}\` (the journal records ${describeOwner(o)} for them)`).join(', ')}, then run this again.`
      : 'Stop the process holding the node first (a VM: `virsh destroy NAME`, or end it), then run this again.';
  throw new LockedError(
    `Nothing was given back: a process still uses these devices through VFIO (most likely a running VM), and unbinding them from their vfio driver would block until it lets go:\n${lines.join('\n')}`,
    `${stop} --force does not override this.`,
  );
}

/**
 * For a dry run, which opens nothing: the groups a reattach would find in use, from ROOT/proc alone (a holder
 * whose fds vfioctl may not read goes unseen), as notes saying the run itself would be refused.
 */
export function inUseNotes(host: Host, steps: PlanStep[]): string[] {
  const groups = [...groupsToFree(host, steps).values()];
  const users = vfioNodeUsers(host.root, groups.flatMap((g) => [g.node, ...g.cdevs]));
  return groups.flatMap((g) => {
    const line = inUseLine(g, users);
    return line ? [`In use: ${line} The reattach itself would be refused (exit 12) until it lets go.`] : [];
  });
}
