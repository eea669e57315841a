import type { Host } from '../host/host.js';
import type { PciDevice } from '../pci/device.js';
import type { GroupMode, GroupModeSource, LibvirtDocument, SourceRef } from '../xml/assignment.js';
import type { Blocker } from './blocker.js';
import { resolveAssignment, type RecordedInterfaces, type ResolvedAssignment } from './resolve.js';

/** One assignment as check reports it (also its JSON shape). */
export interface AssignmentReport {
  label: string;
  kind: string;
  managed: boolean;
  groupMode: GroupMode;
  /** Where the mode came from: the attribute, the vfioctl metadata (an entry or its default), or the default. */
  groupModeSource: GroupModeSource;
  groupModeRef?: SourceRef;
  devices: string[];
  groups: number[];
}

export interface CollectedAssignments {
  /** The VFIO assignments, each with the devices it names on this host. */
  resolved: ResolvedAssignment[];
  /** Elements vfioctl leaves alone, and why. */
  notes: string[];
  /** What could not be found. */
  blockers: Blocker[];
}

/** The document's VFIO assignments resolved against the host; everything else becomes a note. */
export function collectAssignments(doc: LibvirtDocument, host: Host, recorded?: RecordedInterfaces): CollectedAssignments {
  const notes: string[] = [...(doc.readingNotes ?? []), ...doc.notHandled.map((n) => `<${n.source.element}> at ${n.source.file}:${n.source.line}: ${n.reason}`)];
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
    const r = resolveAssignment(a, host, recorded);
    r.missing.forEach((m) => blockers.push({ kind: 'missing', message: m }));
    resolved.push(r);
  }
  return { resolved, notes, blockers };
}

/** A device the document asks for, with every assignment that names it. */
export interface RequestedDevice {
  dev: PciDevice;
  refs: ResolvedAssignment[];
}

/** The devices named by the assignments, each once, in the order they are first named. */
export function requestedDevices(resolved: ResolvedAssignment[]): Map<string, RequestedDevice> {
  const byDevice = new Map<string, RequestedDevice>();
  for (const r of resolved) {
    for (const dev of r.devices) {
      const e = byDevice.get(dev.name) ?? { dev, refs: [] };
      e.refs.push(r);
      byDevice.set(dev.name, e);
    }
  }
  return byDevice;
}

/** The same device named twice. */
export function duplicateBlockers(requested: Map<string, RequestedDevice>): Blocker[] {
  return [...requested]
    .filter(([, e]) => e.refs.length > 1)
    .map(([name, e]) => ({ kind: 'duplicate', device: name, message: `${name} is assigned more than once: ${e.refs.map((r) => r.label).join(' and ')}.` }));
}

export function assignmentReport(r: ResolvedAssignment): AssignmentReport {
  return {
    label: r.label,
    kind: r.assignment.kind,
    managed: r.assignment.managed,
    groupMode: r.assignment.groupMode,
    groupModeSource: r.assignment.groupModeSource,
    groupModeRef: r.assignment.groupModeRef,
    devices: r.devices.map((d) => d.name),
    groups: [...new Set(r.devices.map((d) => d.iommuGroup).filter((g): g is number => g !== null))],
  };
}
