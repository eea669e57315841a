import type { Host } from '../host/host.js';
import type { DeviceUse } from '../host/usage.js';
import type { PciDevice } from '../pci/device.js';
import { nonPciBlocker, type NonPciMember } from '../host/non-pci.js';
import { VFIO_PCI, type DriverName } from '../pci/driver.js';
import type { GroupMode } from '../xml/assignment.js';
import type { RequestedDevice } from './assignments.js';
import type { Blocker } from './blocker.js';
import { hostNeeds } from './host-needs.js';
import { memberAction, moveScope, type MemberAction } from './member-action.js';
import type { ResolvedAssignment } from './resolve.js';
import { targetDriver, type ModelRequest, type Move } from './vfio-driver.js';
import { viabilityBlocker } from './viability.js';

/** One member of a group as check reports it (also its JSON shape). */
export interface MemberPlan {
  address: string;
  /** From the host's pci.ids (or a snapshot's own names), as list shows them; null when unknown. */
  vendorName: string | null;
  deviceName: string | null;
  driver: string | null;
  bridge: boolean;
  /** What a detach does with it (the JSON keeps the name `fate`). */
  fate: MemberAction;
  /** The vfio driver a detach binds it to (vfio-pci or a variant: src/plan/vfio-driver.ts); null when it does not move. */
  target: string | null;
  /** Named by the XML (not just a group mate). */
  requested: boolean;
  hostNeeds: string[];
}

/**
 * What the plan and group-info's report both say of a member besides its sysfs reading: its names, what the
 * host uses it for, and why the host needs it. Read once per member and command (list reports 10,000).
 */
export interface MemberFacts {
  vendorName: string | null;
  deviceName: string | null;
  use: DeviceUse;
  hostNeeds: string[];
}

export function memberFacts(m: PciDevice, host: Host): MemberFacts {
  const names = host.ids.names(m.vendor, m.device);
  const use = host.usage.of(m);
  return { vendorName: names.vendor ?? null, deviceName: names.device ?? null, use, hostNeeds: hostNeeds(m, use) };
}

/** What a detach does with one IOMMU group (also its JSON shape). */
export interface GroupPlan {
  group: number;
  mode: GroupMode;
  members: MemberPlan[];
  viableNow: boolean;
  viableAfter: boolean;
  /** Members that are not PCI functions (src/host/non-pci.ts): never moved; bound to a non-vfio driver, they keep the group from being viable. */
  nonPci: NonPciMember[];
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
  /** Non-PCI members that keep the group from being viable, before and after the moves (vfioctl does not move them). */
  nonPciInTheWay: NonPciMember[];
  /** The members a detach moves, each with its target driver. */
  moves: Move[];
  /** Members that would keep the group from being viable after the moves, as they would be then. */
  inTheWay: PciDevice[];
  /** Devices named by a managed='yes' assignment of this group. */
  managedRequested: Set<string>;
  /** A `<driver model=>` that cannot be honoured, per device: refused before any write. */
  driverBlockers: Blocker[];
  /** Which vfio driver each member goes to, and why, when it is not plain vfio-pci by default. */
  driverNotes: string[];
}

/** With group='auto' anywhere in the group, the whole group moves (a conflict of modes is a blocker). */
export function groupMode(refs: ResolvedAssignment[]): GroupMode {
  return refs.some((r) => r.assignment.groupMode === 'auto') ? 'auto' : 'manual';
}

/**
 * What a detach does with each member of one group, and whether the group is viable before and after.
 * `given`: the members, already read (list's one-pass scan), and its non-PCI members; read from the group otherwise.
 * `givenFacts`: the members' memberFacts, when the caller has them (a report prints them too).
 */
export function planGroup(request: GroupRequest, host: Host, given?: PciDevice[], givenNonPci?: NonPciMember[], givenFacts?: MemberFacts[]): PlannedGroup {
  const { group, refs } = request;
  const mode = groupMode(refs);
  // Loops, not chains of map/filter/flatMap into new Maps and Sets: list plans every group of the host.
  const managedRequested = new Set<string>();
  for (const r of refs) if (r.assignment.managed) for (const d of r.devices) managedRequested.add(d.name);
  const members = given ?? host.reader.groupMembers(group).map((a) => host.reader.device(a));
  const nonPci = givenNonPci ?? (given ? [] : host.reader.groupNonPci(group));
  const nonPciInTheWay = nonPci.filter((m) => nonPciBlocker(m) !== null);
  const actions = members.map((m) => memberAction(m, host.rules, moveScope(mode, managedRequested, m.name), modelRequest(m, refs)?.model));
  const drivers = vfioTargets(members.filter((_, i) => actions[i] === 'move'), refs, host);
  const { moves } = drivers;
  const targets = new Map<string, DriverName>();
  for (const m of moves) targets.set(m.dev.name, m.target);
  // A member whose named model is refused still counts as moving for the verdict: its blocker says the rest.
  const refused = new Set<string | undefined>();
  for (const b of drivers.blockers) refused.add(b.device);
  const inTheWay: PciDevice[] = [];
  for (const m of members) {
    const driver = targets.get(m.name) ?? (refused.has(m.name) ? VFIO_PCI : m.driver);
    const after = driver === m.driver ? m : { ...m, driver };
    if (viabilityBlocker(after, host.rules) !== null) inTheWay.push(after);
  }
  const plan: GroupPlan = {
    group,
    mode,
    members: members.map((m, i) => {
      const facts = givenFacts?.[i] ?? memberFacts(m, host);
      return {
        address: m.name,
        vendorName: facts.vendorName,
        deviceName: facts.deviceName,
        driver: m.driver,
        bridge: m.isBridge,
        fate: actions[i]!,
        target: targets.get(m.name) ?? null,
        requested: request.requested.has(m.name),
        hostNeeds: facts.hostNeeds,
      };
    }),
    viableNow: nonPciInTheWay.length === 0 && members.every((m) => viabilityBlocker(m, host.rules) === null),
    viableAfter: nonPciInTheWay.length === 0 && inTheWay.length === 0,
    nonPci,
  };
  return { request, plan, members, nonPciInTheWay, moves, inTheWay, managedRequested, driverBlockers: drivers.blockers, driverNotes: drivers.notes };
}

/** The `<driver model=>` of the assignment naming a device; a group mate moved by group='auto' has none. */
function modelRequest(dev: PciDevice, refs: ResolvedAssignment[]): ModelRequest | undefined {
  const r = refs.find((x) => x.assignment.driverModel && x.devices.some((d) => d.name === dev.name));
  const m = r?.assignment.driverModel;
  return m ? { model: m.name, where: `<driver model='${m.name}'/> at ${m.ref.file}:${m.ref.line}` } : undefined;
}

/** Each moving member's vfio driver (src/plan/vfio-driver.ts), with a note saying why a variant or a named model. */
function vfioTargets(moving: PciDevice[], refs: ResolvedAssignment[], host: Host): { moves: Move[]; blockers: Blocker[]; notes: string[] } {
  const moves: Move[] = [];
  const blockers: Blocker[] = [];
  const notes: string[] = [];
  for (const dev of moving) {
    const request = modelRequest(dev, refs);
    const choice = targetDriver(dev, host.vfioDrivers, request);
    if (!choice.ok) {
      blockers.push({ kind: choice.kind, device: dev.name, message: choice.message });
      continue;
    }
    moves.push({ dev, target: choice.driver });
    if (choice.variant || request) notes.push(`${dev.name} goes to ${choice.driver}: ${choice.why}.`);
  }
  return { moves, blockers, notes };
}
