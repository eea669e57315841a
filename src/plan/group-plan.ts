import type { Host } from '../host/host.js';
import type { PciDevice } from '../pci/device.js';
import type { GroupMode } from '../xml/assignment.js';
import type { RequestedDevice } from './assignments.js';
import type { Blocker } from './blocker.js';
import { hostNeeds } from './host-needs.js';
import { memberAction, moveScope, type MemberAction } from './member-action.js';
import type { ResolvedAssignment } from './resolve.js';
import { targetDriver, type Move } from './vfio-driver.js';
import { viabilityBlocker } from './viability.js';

/** One member of a group as check reports it (also its JSON shape). */
export interface MemberPlan {
  address: string;
  driver: string | null;
  bridge: boolean;
  /** What a detach does with it (the JSON keeps the name `fate`). */
  fate: MemberAction;
  /** Named by the XML (not just a group mate). */
  requested: boolean;
  hostNeeds: string[];
}

/** What a detach does with one IOMMU group (also its JSON shape). */
export interface GroupPlan {
  group: number;
  mode: GroupMode;
  members: MemberPlan[];
  viableNow: boolean;
  viableAfter: boolean;
}

/** One IOMMU group the document touches: the assignments that name its devices, and which devices they name. */
export interface GroupRequest {
  group: number;
  refs: ResolvedAssignment[];
  requested: Set<string>;
}

/**
 * The requested devices by IOMMU group, in group order. A bridge, or a device in no group, cannot be
 * assigned: each is a blocker instead (no-group only while the IOMMU is on; iommu-off says it once).
 */
export function groupRequests(requested: Map<string, RequestedDevice>, iommuOn: boolean): { requests: GroupRequest[]; blockers: Blocker[] } {
  const blockers: Blocker[] = [];
  const groups = new Map<number, { refs: Set<ResolvedAssignment>; requested: Set<string> }>();
  for (const [name, e] of requested) {
    if (e.dev.isBridge) {
      blockers.push({ kind: 'bridge', device: name, message: `${e.refs[0]!.label}: ${name} is a PCI bridge; vfio-pci does not take bridges, so it cannot be assigned.` });
      continue;
    }
    if (e.dev.iommuGroup === null) {
      if (iommuOn) blockers.push({ kind: 'no-group', device: name, message: `${e.refs[0]!.label}: ${name} is not in any IOMMU group, so VFIO cannot use it.` });
      continue;
    }
    const g = groups.get(e.dev.iommuGroup) ?? { refs: new Set(), requested: new Set() };
    e.refs.forEach((r) => g.refs.add(r));
    g.requested.add(name);
    groups.set(e.dev.iommuGroup, g);
  }
  const requests = [...groups].sort((a, b) => a[0] - b[0]).map(([group, g]) => ({ group, refs: [...g.refs], requested: g.requested }));
  return { requests, blockers };
}

/** A planned group with what its blockers are decided from. */
export interface PlannedGroup {
  request: GroupRequest;
  plan: GroupPlan;
  /** The members as they are now, in the group's order. */
  members: PciDevice[];
  /** The members a detach moves, each with its target driver. */
  moves: Move[];
  /** Members that would keep the group from being viable after the moves, as they would be then. */
  inTheWay: PciDevice[];
  /** Devices named by a managed='yes' assignment of this group. */
  managedRequested: Set<string>;
}

/** With group='auto' anywhere in the group, the whole group moves (a conflict of modes is a blocker). */
export function groupMode(refs: ResolvedAssignment[]): GroupMode {
  return refs.some((r) => r.assignment.groupMode === 'auto') ? 'auto' : 'manual';
}

/**
 * What a detach does with each member of one group, and whether the group is viable before and after.
 * `given`: the members, already read (list's one-pass scan); read from the group otherwise.
 */
export function planGroup(request: GroupRequest, host: Host, given?: PciDevice[]): PlannedGroup {
  const { group, refs } = request;
  const mode = groupMode(refs);
  const managedRequested = new Set(refs.filter((r) => r.assignment.managed).flatMap((r) => r.devices.map((d) => d.name)));
  const members = given ?? host.reader.groupMembers(group).map((a) => host.reader.device(a));
  const actions = new Map(members.map((m) => [m.name, memberAction(m, host.rules, moveScope(mode, managedRequested, m.name))]));
  const moves = members.filter((m) => actions.get(m.name) === 'move').map((dev) => ({ dev, target: targetDriver(dev) }));
  const targets = new Map(moves.map((m) => [m.dev.name, m.target]));
  const after = (m: PciDevice): PciDevice => ({ ...m, driver: targets.get(m.name) ?? m.driver });
  const inTheWay = members.map(after).filter((m) => viabilityBlocker(m, host.rules) !== null);
  const plan: GroupPlan = {
    group,
    mode,
    members: members.map((m) => ({
      address: m.name,
      driver: m.driver,
      bridge: m.isBridge,
      fate: actions.get(m.name)!,
      requested: request.requested.has(m.name),
      hostNeeds: hostNeeds(m, host.usage.of(m)),
    })),
    viableNow: members.every((m) => viabilityBlocker(m, host.rules) === null),
    viableAfter: inTheWay.length === 0,
  };
  return { request, plan, members, moves, inTheWay, managedRequested };
}
