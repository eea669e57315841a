import { ExitCode } from '../errors.js';
import type { Host } from '../host/host.js';
import { toHostWrite, type HostWrite } from '../host/layout.js';
import { VFIO_PCI } from '../pci/driver.js';
import { analyze, type Analysis, type GroupPlan } from '../plan/analyze.js';
import { blockersError } from '../plan/blocker-error.js';
import type { MemberAction } from '../plan/member-action.js';
import type { Owner } from '../plan/ownership.js';
import { recordedInterfaces, type RecordedInterfaces } from '../plan/resolve.js';
import { priorBindingOf, planDetachWrites, type PlanStep } from '../plan/writes.js';
import { alreadyOnVfio } from '../plan/vfio-driver.js';
import type { LibvirtDocument } from '../xml/assignment.js';
import { beginDetach, failedDetach } from './detach-failure.js';
import { executeSteps } from './execute.js';
import { Journal } from './journal.js';
import type { PciDevice } from '../pci/device.js';
import type { LinkState } from './journal.js';
import type { WriteSession } from './session.js';
import type { NodeOwner } from '../host/accounts.js';
import { giveNodes } from './node-owner.js';
import { inUseNotes, refuseGroupsInUse, type RunWords } from './in-use.js';

/** How a detach refused for a group in use says so (in-use.ts). */
const detachWords = (doc: LibvirtDocument): RunWords => ({ nothing: `Nothing was detached for ${doc.file}`, run: 'The detach' });

/** What a detach did, or would do, with a member: the words of its JSON output (README). */
export type DeviceAction = 'moved' | 'would-move' | 'already' | 'stays' | 'bridge-stays';

export interface DeviceOutcome {
  address: string;
  group: number;
  from: string | null;
  to: string | null;
  action: DeviceAction;
}

/** The one mapping from the planner's member action to the output's word; a bridge that stays says so. */
export function deviceAction(action: MemberAction, bridge: boolean, performed: boolean): DeviceAction {
  if (action === 'move') return performed ? 'moved' : 'would-move';
  if (action === 'already') return 'already';
  return bridge ? 'bridge-stays' : 'stays';
}

export interface DetachResult {
  changed: boolean;
  dryRun: boolean;
  writes: HostWrite[];
  devices: DeviceOutcome[];
  groups: GroupPlan[];
  notes: string[];
  /**
   * A dry run of a detach the real run would refuse (a group in use, in-use.ts): the exit code it would have,
   * 12, which the dry run exits with too after printing its writes and notes (as reattach's dry run). Absent otherwise.
   */
  exitCode?: typeof ExitCode.locked;
}

function outcomes(analysis: Analysis, moved: boolean): DeviceOutcome[] {
  const targets = new Map(analysis.moves.map((m) => [m.dev.name, m.target]));
  return analysis.groups.flatMap((g) =>
    g.members.map((m) => ({
      address: m.address,
      group: g.group,
      from: m.driver,
      to: targets.get(m.address) ?? m.driver,
      action: deviceAction(m.fate, m.bridge, moved),
    })),
  );
}

const asWrites = (steps: PlanStep[]): HostWrite[] => steps.map((s) => toHostWrite(s.write));

/**
 * The interfaces the journal recorded, for commands that only read (check, --dry-run): a journal that cannot
 * be read gives none here; the commands that write read it in their session and say what is wrong with it.
 */
export function journalInterfaces(host: Host): RecordedInterfaces {
  try {
    return recordedInterfaces(new Journal(host.reader.layout.stateDir).data.devices);
  } catch {
    return new Map();
  }
}

/** Plans a detach and refuses before any write when anything blocks it (a group held for another domain too, given the owner). */
export function planDetach(doc: LibvirtDocument, host: Host, force: boolean, owner?: Owner, recorded?: RecordedInterfaces): { analysis: Analysis; steps: PlanStep[] } {
  const analysis = analyze(doc, host, { force, owner, recorded });
  if (analysis.blockers.length > 0) throw blockersError(analysis.blockers, `Nothing was detached for ${doc.file}`);
  return { analysis, steps: planDetachWrites(analysis.moves, host.reader.layout) };
}

export function dryRunDetach(doc: LibvirtDocument, host: Host, force: boolean): DetachResult {
  const { analysis, steps } = planDetach(doc, host, force, undefined, journalInterfaces(host));
  const inUse = inUseNotes(host, steps, detachWords(doc));
  return {
    changed: steps.length > 0,
    dryRun: true,
    writes: asWrites(steps),
    devices: outcomes(analysis, false),
    groups: analysis.groups,
    notes: [...analysis.notes, ...inUse],
    ...(inUse.length > 0 ? { exitCode: ExitCode.locked } : {}),
  };
}

/** Tells session.progress that a device is on its new driver, when step `i` is that device's last. */
function reportMoved(session: WriteSession, analysis: Analysis, steps: PlanStep[], i: number): void {
  const report = session.progress?.onDeviceMoved;
  const device = steps[i]!.device;
  if (!report || steps.slice(i + 1).some((s) => s.device === device)) return;
  const order = [...new Set(steps.map((s) => s.device))];
  const from = analysis.moves.find(({ dev }) => dev.name === device)?.dev.driver ?? null;
  report({ device, from, to: steps[i]!.expectDriver, index: order.indexOf(device) + 1, total: order.length, kernel: session.kernel.kind });
}

/**
 * Moves the groups; with `nodeOwner` (`detach --owner`), then gives their /dev/vfio nodes to that user
 * (node-owner.ts), also when every device was on vfio already from an earlier detach.
 */
export function runDetach(doc: LibvirtDocument, session: WriteSession, force: boolean, command: string, owner?: Owner, nodeOwner?: NodeOwner): DetachResult {
  const result = moveGroups(doc, session, force, command, owner);
  if (nodeOwner) {
    const held = result.devices.map((d) => d.address).filter((a) => session.journal.data.devices[a] !== undefined);
    result.notes.push(...giveNodes(session, held, nodeOwner));
  }
  return result;
}

function moveGroups(doc: LibvirtDocument, session: WriteSession, force: boolean, command: string, owner?: Owner): DetachResult {
  const { host, kernel, journal } = session;
  const recorded = recordedInterfaces(journal.data.devices);
  let { analysis, steps } = planDetach(doc, host, force, owner, recorded);
  if (steps.length === 0) {
    const nothing = analysis.groups.length === 0 ? `Nothing to do: ${doc.file} assigns no PCI device to VFIO.` : alreadyOnVfio(analysis.groups.flatMap((g) => g.members.filter((m) => m.fate === 'already').map((m) => m.driver)));
    return { changed: false, dryRun: false, writes: [], devices: outcomes(analysis, false), groups: analysis.groups, notes: [...analysis.notes, nothing] };
  }
  // A move from one vfio driver to another unbinds from the first: in a group a VM holds, that unbind would hang,
  // so it is refused before anything, the modprobes below included (in-use.ts). Loading a module binds only
  // unbound devices, so the plans made after them unbind the same devices from the same drivers.
  refuseGroupsInUse(host, kernel, journal, steps, detachWords(doc));
  if (analysis.vfio === 'available') {
    kernel.loadModule(VFIO_PCI);
    host.reader.invalidate();
    ({ analysis, steps } = planDetach(doc, host, force, owner, recorded));
  }
  // A variant driver chosen for a move and not registered yet: modprobe it, as libvirt does before binding.
  const unloaded = [...new Set(analysis.moves.map((m) => m.target))].filter((t) => t !== VFIO_PCI && !host.reader.driverLoaded(t));
  if (unloaded.length > 0) {
    unloaded.forEach((t) => kernel.loadModule(t));
    host.reader.invalidate();
    ({ analysis, steps } = planDetach(doc, host, force, owner, recorded));
  }
  // With each device's interfaces and their operstate (up/down), so a reattach can say which came back down.
  const links = (dev: PciDevice): LinkState[] => dev.netInterfaces.map((name) => ({ name, operstate: host.reader.interfaceOperstate(name) ?? 'unknown' }));
  journal.recordPriorBindings(analysis.moves.map(({ dev }) => [dev.name, { ...priorBindingOf(dev), ...(dev.netInterfaces.length > 0 ? { links: links(dev) } : {}) }]), command, owner);
  beginDetach(journal, command, steps);
  const performedBefore = kernel.performed.length;
  let done = 0;
  try {
    executeSteps(steps, {
      kernel,
      reader: host.reader,
      onStepDone: (i) => {
        done = i + 1;
        journal.stepDone(i);
        reportMoved(session, analysis, steps, i);
      },
    });
    journal.finish();
  } catch (err) {
    // Any failure after the first write rolls back: a refused write, a journal that cannot be saved, a read error.
    throw failedDetach(err, session, analysis.moves, { done, total: steps.length, performedBefore });
  }
  return { changed: true, dryRun: false, writes: asWrites(steps), devices: outcomes(analysis, true), groups: analysis.groups, notes: analysis.notes };
}
