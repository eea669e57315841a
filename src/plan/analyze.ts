import type { Host, ModuleState } from '../host/host.js';
import { compareAddress } from '../pci/address.js';
import type { PciDevice } from '../pci/device.js';
import type { GroupMode, GroupModeSource, LibvirtDocument, SourceRef } from '../xml/assignment.js';
import { hostNeeds } from './host-needs.js';
import { ownershipBlockers, type Owner } from './ownership.js';
import { autoAction } from './member-action.js';
import { resolveAssignment, type ResolvedAssignment } from './resolve.js';
import { isVfioDriver, viabilityBlocker } from './viability.js';

/**
 * The whole analysis of a libvirt document against a host, before any write: what each assignment names,
 * which groups it touches, what a detach would move, and every reason it could not. Pure reading; `check`
 * prints it, `detach` refuses on its blockers and turns its moves into writes.
 */
export type BlockerKind =
  | 'duplicate'
  | 'conflict'
  | 'missing'
  | 'iommu-off'
  | 'no-group'
  | 'vfio-missing'
  | 'not-viable'
  | 'unmanaged'
  | 'bridge'
  | 'sriov-pf'
  | 'host-needs'
  | 'held';

export interface Blocker {
  kind: BlockerKind;
  message: string;
  /** The device concerned, when there is one. */
  device?: string;
}

export type MemberFate = 'move' | 'already' | 'bridge-stays' | 'bridge-blocks' | 'stays';

export interface MemberPlan {
  address: string;
  driver: string | null;
  bridge: boolean;
  fate: MemberFate;
  /** Named by the XML (not just a group mate). */
  requested: boolean;
  hostNeeds: string[];
}

export interface GroupPlan {
  group: number;
  mode: GroupMode;
  members: MemberPlan[];
  viableNow: boolean;
  viableAfter: boolean;
}

export interface AssignmentReport {
  label: string;
  kind: string;
  managed: boolean;
  groupMode: GroupMode;
  groupModeSource: GroupModeSource;
  groupModeRef?: SourceRef;
  devices: string[];
  groups: number[];
}

export interface Analysis {
  document: { kind: 'domain' | 'network'; name: string; file: string };
  assignments: AssignmentReport[];
  groups: GroupPlan[];
  /** Devices a detach moves to vfio-pci, in address order. */
  moves: PciDevice[];
  blockers: Blocker[];
  /** Information: unhandled devices, forced safety overrides, a module to load. */
  notes: string[];
  vfio: ModuleState;
}

export function analyze(doc: LibvirtDocument, host: Host, opts: { force: boolean; owner?: Owner }): Analysis {
  const notes: string[] = doc.notHandled.map((n) => `<${n.source.element}> at ${n.source.file}:${n.source.line}: ${n.reason}`);
  const blockers: Blocker[] = [];
  if (doc.kind === 'network' && doc.forwardMode !== undefined && doc.assignments.length === 0) {
    notes.push(`network '${doc.name}' uses <forward mode='${doc.forwardMode}'>: it is not a hostdev network, so there is nothing to detach.`);
  }

  const resolved: ResolvedAssignment[] = [];
  for (const a of doc.assignments) {
    if (a.driverName === 'kvm' || a.driverName === 'xen') {
      notes.push(`<${a.source.element}> at ${a.source.file}:${a.source.line} uses <driver name='${a.driverName}'>: vfioctl handles VFIO assignment only and leaves it alone.`);
      continue;
    }
    const r = resolveAssignment(a, host);
    r.missing.forEach((m) => blockers.push({ kind: 'missing', message: m }));
    resolved.push(r);
  }

  // The same device named twice.
  const byDevice = new Map<string, { dev: PciDevice; refs: ResolvedAssignment[] }>();
  for (const r of resolved) {
    for (const dev of r.devices) {
      const e = byDevice.get(dev.name) ?? { dev, refs: [] };
      e.refs.push(r);
      byDevice.set(dev.name, e);
    }
  }
  for (const [name, e] of byDevice) {
    if (e.refs.length > 1) {
      blockers.push({ kind: 'duplicate', device: name, message: `${name} is assigned more than once: ${e.refs.map((r) => r.label).join(' and ')}.` });
    }
  }

  const iommuOn = host.reader.iommuEnabled();
  if (byDevice.size > 0 && !iommuOn) {
    blockers.push({
      kind: 'iommu-off',
      message: 'The IOMMU is off on this host (no IOMMU groups): turn on VT-d / AMD-Vi in the firmware and add intel_iommu=on or amd_iommu=on to the kernel command line.',
    });
  }
  const vfio = host.vfioState();
  if (byDevice.size > 0 && vfio === 'missing') {
    blockers.push({ kind: 'vfio-missing', message: 'vfio-pci is not loaded and no vfio-pci module is installed for this kernel: install it (it ships with the kernel on most distributions) or use a kernel built with CONFIG_VFIO_PCI.' });
  } else if (byDevice.size > 0 && vfio === 'available') {
    notes.push('vfio-pci is not loaded: detach will load it first (modprobe vfio-pci).');
  }

  // Group the requested devices.
  const groups = new Map<number, { refs: Set<ResolvedAssignment>; requested: Set<string> }>();
  for (const [name, e] of byDevice) {
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

  const groupPlans: GroupPlan[] = [];
  const moves: PciDevice[] = [];
  for (const [group, g] of [...groups].sort((a, b) => a[0] - b[0])) {
    const refs = [...g.refs];
    const modes = new Set(refs.map((r) => r.assignment.groupMode));
    if (modes.size > 1) {
      blockers.push({
        kind: 'conflict',
        message: `IOMMU group ${group} is named with different group modes: ${refs.map((r) => `${r.label} (group='${r.assignment.groupMode}')`).join(', ')}. Use the same <driver group=...> for every device of one group.`,
      });
    }
    const mode: GroupMode = modes.has('auto') ? 'auto' : 'manual';
    const managedRequested = new Set(refs.filter((r) => r.assignment.managed).flatMap((r) => r.devices.map((d) => d.name)));
    const members = host.reader.groupMembers(group).map((a) => host.reader.device(a));
    const fates = new Map<string, MemberFate>();
    for (const m of members) {
      if (mode === 'auto' && managedRequested.size > 0) fates.set(m.name, autoAction(m, host.rules));
      else if (managedRequested.has(m.name)) fates.set(m.name, isVfioDriver(m.driver) ? 'already' : 'move');
      else fates.set(m.name, m.isBridge ? (viabilityBlocker(m, host.rules) ? 'bridge-blocks' : 'bridge-stays') : 'stays');
    }
    const after = (m: PciDevice): PciDevice => (fates.get(m.name) === 'move' ? { ...m, driver: 'vfio-pci' as PciDevice['driver'] } : m);
    const inTheWay = members.map(after).filter((m) => viabilityBlocker(m, host.rules) !== null);
    const plans: MemberPlan[] = members.map((m) => ({
      address: m.name,
      driver: m.driver,
      bridge: m.isBridge,
      fate: fates.get(m.name)!,
      requested: g.requested.has(m.name),
      hostNeeds: hostNeeds(m, host.usage.of(m)),
    }));
    const viableNow = members.every((m) => viabilityBlocker(m, host.rules) === null);
    groupPlans.push({ group, mode, members: plans, viableNow, viableAfter: inTheWay.length === 0 });

    const unmanaged = refs.filter((r) => !r.assignment.managed);
    for (const r of unmanaged) {
      for (const d of r.devices) {
        if (!isVfioDriver(d.driver) && !managedRequested.has(d.name)) {
          blockers.push({
            kind: 'unmanaged',
            device: d.name,
            message: `${r.label}: ${d.name} has managed='no', so libvirt expects it on vfio-pci already, but it is ${d.driver ? `bound to ${d.driver}` : 'not bound to any driver'}. Bind it to vfio-pci yourself, or set managed='yes'.`,
          });
        }
      }
    }
    if (inTheWay.length > 0) {
      const list = inTheWay.map((m) => `${m.name} (${viabilityBlocker(m, host.rules)})`).join(', ');
      const bridgesOnly = inTheWay.every((m) => m.isBridge);
      blockers.push({
        kind: 'not-viable',
        message: bridgesOnly
          ? `IOMMU group ${group} cannot become viable: ${list}. Unbind the bridge from that driver by hand; vfio-pci does not take bridges.`
          : mode === 'manual'
            ? `IOMMU group ${group} would not be viable with group='manual': members in the way: ${list}. Add group='auto' to <driver name='vfio'/> to move the whole group, or move those devices yourself.`
            : `IOMMU group ${group} would not be viable: members in the way: ${list}.`,
      });
    }
    for (const m of members) {
      if (fates.get(m.name) !== 'move') continue;
      const needs = plans.find((p) => p.address === m.name)!.hostNeeds;
      if (needs.length > 0) {
        const text = `${m.name}: ${needs.join('; ')}`;
        if (opts.force) notes.push(`--force: taking ${text}`);
        else blockers.push({ kind: 'host-needs', device: m.name, message: `${text}. Detaching it would take it from the host; use --force if you really mean it.` });
      }
      // vfio_pci_probe() refuses a PF whose VFs are enabled (EBUSY): the VFs may be in use by the host.
      if (m.virtfns.length > 0) {
        blockers.push({
          kind: 'sriov-pf',
          device: m.name,
          message: `${m.name} is an SR-IOV physical function with ${m.virtfns.length} virtual function${m.virtfns.length === 1 ? '' : 's'} enabled, and vfio-pci refuses such a PF (its probe answers EBUSY). Assign the VFs instead, or disable them first: echo 0 > /sys/bus/pci/devices/${m.name}/sriov_numvfs.`,
        });
      }
      moves.push(m);
    }
  }
  moves.sort((a, b) => compareAddress(a.address, b.address));
  blockers.push(...ownershipBlockers(groupPlans, host.reader, opts.owner));

  return {
    document: { kind: doc.kind, name: doc.name, file: doc.file },
    assignments: resolved.map((r) => ({
      label: r.label,
      kind: r.assignment.kind,
      managed: r.assignment.managed,
      groupMode: r.assignment.groupMode,
      groupModeSource: r.assignment.groupModeSource,
      groupModeRef: r.assignment.groupModeRef,
      devices: r.devices.map((d) => d.name),
      groups: [...new Set(r.devices.map((d) => d.iommuGroup).filter((g): g is number => g !== null))],
    })),
    groups: groupPlans,
    moves,
    blockers,
    notes,
    vfio,
  };
}
