import type { Host, ModuleState } from '../host/host.js';
import { compareAddress } from '../pci/address.js';
import type { LibvirtDocument } from '../xml/assignment.js';
import { assignmentReport, collectAssignments, duplicateBlockers, requestedDevices, type AssignmentReport, type RequestedDevice } from './assignments.js';
import type { Blocker } from './blocker.js';
import { groupBlockers, groupsAfterDetach } from './group-blockers.js';
import { groupRequests, planGroup, type GroupPlan } from './group-plan.js';
import { moduleLoadBlockers } from './module-load.js';
import { newIdBlockers } from './new-id.js';
import { ownershipBlockers, type Owner } from './ownership.js';
import type { RecordedInterfaces } from './resolve.js';
import type { Move } from './vfio-driver.js';
import { resetNotes } from './reset-notes.js';
import { vfioOpens } from './vfio-open.js';
import { isolationWarnings } from '../host/isolation.js';

export type { AssignmentReport } from './assignments.js';
export type { Blocker, BlockerKind } from './blocker.js';
export type { GroupPlan, MemberPlan } from './group-plan.js';

/**
 * The whole analysis of a libvirt document against a host, before any write: what each assignment names,
 * which groups it touches, what a detach would move, and every reason it could not. Pure reading; `check`
 * prints it, `detach` refuses on its blockers and turns its moves into writes.
 */
export interface Analysis {
  document: { kind: 'domain' | 'network'; name: string; file: string };
  assignments: AssignmentReport[];
  groups: GroupPlan[];
  /** Devices a detach moves, each with the vfio driver it goes to, in address order. */
  moves: Move[];
  blockers: Blocker[];
  /** Information: unhandled devices, forced safety overrides, a module to load. */
  notes: string[];
  vfio: ModuleState;
  /** Why this host's IOMMU groups do not isolate devices (ACS override, no-IOMMU mode: src/host/isolation.ts); printed first. */
  warnings: string[];
  /** What the VM will open: its groups' /dev/vfio/N, or /dev/iommu and the vfio cdevs with iommufd='yes'; null when nothing is assigned. */
  opens: string | null;
}

export interface HostPreconditions {
  iommuOn: boolean;
  vfio: ModuleState;
  blockers: Blocker[];
  notes: string[];
}

/** What the host must offer before any device can move: an IOMMU, and a vfio-pci it has or can load. */
export function hostBlockers(requested: Map<string, RequestedDevice>, host: Host): HostPreconditions {
  const blockers: Blocker[] = [];
  const notes: string[] = [];
  const iommuOn = host.reader.iommuEnabled();
  if (requested.size > 0 && !iommuOn) {
    blockers.push({
      kind: 'iommu-off',
      message: 'The IOMMU is off on this host (no IOMMU groups): turn on VT-d / AMD-Vi in the firmware and add intel_iommu=on or amd_iommu=on to the kernel command line.',
    });
  }
  const vfio = host.vfioState();
  if (requested.size > 0 && vfio === 'missing') {
    blockers.push({ kind: 'vfio-missing', message: 'vfio-pci is not loaded and no vfio-pci module is installed for this kernel: install it (it ships with the kernel on most distributions) or use a kernel built with CONFIG_VFIO_PCI.' });
  } else if (requested.size > 0 && vfio === 'available') {
    notes.push('vfio-pci is not loaded: detach will load it first (modprobe vfio-pci).');
  }
  return { iommuOn, vfio, blockers, notes };
}

export interface AnalyzeOptions {
  force: boolean;
  /** A libvirt hook's domain or network: groups vfioctl holds for another one block. */
  owner?: Owner;
  /** Interfaces of devices vfioctl moved, from its journal: a pool member named by an interface that is gone since. */
  recorded?: RecordedInterfaces;
}

/**
 * Assignments → requested devices → host preconditions → their IOMMU groups → a plan per group → the
 * blockers of each group → devices new_id (kernels without driver_override) or loading vfio-pci would take along → groups vfioctl holds for another libvirt domain (when a hook asks for `owner`).
 * Blockers and notes keep that order.
 */
export function analyze(doc: LibvirtDocument, host: Host, opts: AnalyzeOptions): Analysis {
  const collected = collectAssignments(doc, host, opts.recorded);
  const requested = requestedDevices(collected.resolved);
  const preconditions = hostBlockers(requested, host);
  const grouped = groupRequests(requested, preconditions.iommuOn);
  const planned = grouped.requests.map((r) => planGroup(r, host));
  const perGroup = planned.map((g) => groupBlockers(g, host, opts.force, doc));
  const groups = planned.map((g) => g.plan);
  const moves = planned.flatMap((g) => g.moves).sort((a, b) => compareAddress(a.dev.address, b.dev.address));
  const blockers = [...collected.blockers, ...duplicateBlockers(requested), ...preconditions.blockers, ...grouped.blockers, ...planned.flatMap((g) => g.driverBlockers), ...perGroup.flatMap((g) => g.blockers), ...newIdBlockers(moves, host), ...moduleLoadBlockers(moves, host, preconditions.vfio), ...ownershipBlockers(groups, host.reader, opts.owner)];
  return {
    document: { kind: doc.kind, name: doc.name, file: doc.file },
    assignments: collected.resolved.map(assignmentReport),
    groups: groupsAfterDetach(groups, blockers),
    moves,
    blockers,
    notes: [...collected.notes, ...preconditions.notes, ...planned.flatMap((g) => g.driverNotes), ...resetNotes(moves, host), ...perGroup.flatMap((g) => g.notes)],
    vfio: preconditions.vfio,
    warnings: isolationWarnings(host.reader),
    opens: vfioOpens(collected.resolved, groups, host),
  };
}
