import { KernelWriteError, RollbackIncompleteError } from '../errors.js';
import type { Host } from '../host/host.js';
import { toHostWrite, type HostWrite } from '../host/layout.js';
import { VFIO_PCI } from '../pci/driver.js';
import { analyze, type Analysis, type GroupPlan } from '../plan/analyze.js';
import { blockersError } from '../plan/blocker-error.js';
import type { MemberAction } from '../plan/member-action.js';
import type { Owner } from '../plan/ownership.js';
import { priorBindingOf, planDetachWrites, type PriorBinding, type PlanStep } from '../plan/writes.js';
import type { LibvirtDocument } from '../xml/assignment.js';
import { executeSteps, StepError } from './execute.js';
import { restore } from './restore.js';
import type { WriteSession } from './session.js';

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

/** Plans a detach and refuses before any write when anything blocks it (a group held for another domain too, given the owner). */
export function planDetach(doc: LibvirtDocument, host: Host, force: boolean, owner?: Owner): { analysis: Analysis; steps: PlanStep[] } {
  const analysis = analyze(doc, host, { force, owner });
  if (analysis.blockers.length > 0) throw blockersError(analysis.blockers, `Nothing was detached for ${doc.file}`);
  return { analysis, steps: planDetachWrites(analysis.moves, host.reader.layout) };
}

export function dryRunDetach(doc: LibvirtDocument, host: Host, force: boolean): DetachResult {
  const { analysis, steps } = planDetach(doc, host, force);
  return { changed: steps.length > 0, dryRun: true, writes: asWrites(steps), devices: outcomes(analysis, false), groups: analysis.groups, notes: analysis.notes };
}

export function runDetach(doc: LibvirtDocument, session: WriteSession, force: boolean, command: string, owner?: Owner): DetachResult {
  const { host, kernel, journal } = session;
  let { analysis, steps } = planDetach(doc, host, force, owner);
  if (steps.length === 0) {
    return { changed: false, dryRun: false, writes: [], devices: outcomes(analysis, false), groups: analysis.groups, notes: [...analysis.notes, 'Nothing to do: every device is already on vfio-pci.'] };
  }
  if (analysis.vfio === 'available') {
    kernel.loadModule(VFIO_PCI);
    host.reader.invalidate();
    ({ analysis, steps } = planDetach(doc, host, force, owner));
  }
  // A variant driver chosen for a move and not registered yet: modprobe it, as libvirt does before binding.
  const unloaded = [...new Set(analysis.moves.map((m) => m.target))].filter((t) => t !== VFIO_PCI && !host.reader.driverLoaded(t));
  if (unloaded.length > 0) {
    unloaded.forEach((t) => kernel.loadModule(t));
    host.reader.invalidate();
    ({ analysis, steps } = planDetach(doc, host, force, owner));
  }
  journal.recordPriorBindings(analysis.moves.map(({ dev }) => [dev.name, priorBindingOf(dev)]), command, owner);
  journal.begin(command, steps.map((s) => s.write));
  try {
    executeSteps(steps, { kernel, reader: host.reader, onStepDone: (i) => journal.stepDone(i) });
  } catch (err) {
    if (!(err instanceof StepError)) throw err;
    const entries = analysis.moves.map(({ dev }) => [dev.name, journal.data.devices[dev.name] ?? null] as [string, PriorBinding | null]);
    const outcome = restore(host, kernel, entries);
    journal.forget(outcome.restored);
    journal.finish();
    const failedAt = `step ${err.failure.index + 1} of ${steps.length}`;
    if (outcome.left.length === 0) {
      throw new KernelWriteError(
        `Detach failed at ${failedAt}: ${err.failure.reason}\nRolled back: ${outcome.restored.join(', ')} ${outcome.restored.length === 1 ? 'is' : 'are'} back on ${outcome.restored.length === 1 ? 'its' : 'their'} original driver${outcome.restored.length === 1 ? '' : 's'}.`,
      );
    }
    throw new RollbackIncompleteError(
      `Detach failed at ${failedAt}: ${err.failure.reason}\nThe rollback could not restore everything:\n${outcome.left.map((l) => `  - ${l.reason}`).join('\n')}`,
      `The journal in ${journal.file} still records them; fix the cause and run \`vfioctl reattach --all\`.`,
    );
  }
  journal.finish();
  return { changed: true, dryRun: false, writes: asWrites(steps), devices: outcomes(analysis, true), groups: analysis.groups, notes: analysis.notes };
}
