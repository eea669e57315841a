import { ExitCode, RollbackIncompleteError } from '../errors.js';
import type { Host } from '../host/host.js';
import { toHostWrite, type HostWrite } from '../host/layout.js';
import { analyze } from '../plan/analyze.js';
import { foreignHolderError, sameOwner, type Owner } from '../plan/ownership.js';
import { recordedInterfaces } from '../plan/resolve.js';
import { isVfioDriver } from '../plan/vfio-driver.js';
import { planRestoreWrites, type PriorBinding } from '../plan/writes.js';
import type { LibvirtDocument } from '../xml/assignment.js';
import type { Journal } from './journal.js';
import { restore, restoreTargets } from './restore.js';
import { restoreScope, type RestoreScope } from './restore-scope.js';
import type { WriteSession } from './session.js';
import { currentDriver } from './execute.js';
import { restoreNodes } from './node-owner.js';
import { inUseNotes, refuseGroupsInUse } from './in-use.js';

/**
 * Which devices a reattach puts back, each with what vfioctl recorded about it:
 * - `--all`: every device in the journal (this also completes a detach that was interrupted by a crash);
 * - a file: the devices it names, and for group='auto' the members of their groups that vfioctl moved.
 *   A named device on vfio-pci with no journal entry goes back through the kernel's normal probe (said in
 *   the notes); group mates vfioctl never moved are left alone.
 */
export function reattachTargets(journal: Journal, host: Host, doc: LibvirtDocument | null, owner?: Owner, byHand?: ByHand): RestoreScope {
  const { entries, notes } = recordedTargets(journal, host, doc, owner);
  if (byHand) {
    const refusal = foreignHolderError(
      entries.map(([a]) => [a, journal.data.devices[a] ?? null]),
      byHand.requester,
      byHand.file,
    );
    if (refusal) throw refusal;
  }
  const scope = restoreScope(host, entries);
  return { ...scope, notes: [...notes, ...scope.notes] };
}

/**
 * A reattach of a FILE by hand (not the hook's release, not --all): who the file is, so that what vfioctl holds
 * for another domain or network is refused (src/plan/ownership.ts foreignHolderError). Absent with --force.
 */
export interface ByHand {
  requester: Owner;
  file: string;
}

function recordedTargets(journal: Journal, host: Host, doc: LibvirtDocument | null, owner?: Owner): { entries: [string, PriorBinding | null][]; notes: string[] } {
  const notes: string[] = [];
  if (owner) {
    // A libvirt hook's release: what vfioctl moved for this domain or network, by the journal's owner record.
    return { entries: Object.entries(journal.data.devices).filter(([, d]) => d.owner && sameOwner(d.owner, owner)), notes };
  }
  if (!doc) {
    const entries = Object.entries(journal.data.devices).map(([a, d]) => [a, d] as [string, PriorBinding]);
    if (journal.data.operation) notes.push(`Completing an interrupted '${journal.data.operation.command}' (${journal.data.operation.done} of ${journal.data.operation.steps.length} writes had been done).`);
    return { entries, notes };
  }
  const analysis = analyze(doc, host, { force: true, recorded: recordedInterfaces(journal.data.devices) });
  const wanted = new Map<string, PriorBinding | null>();
  for (const g of analysis.groups) {
    for (const m of g.members) {
      const recorded = journal.data.devices[m.address];
      if (recorded) wanted.set(m.address, recorded);
      else if (m.requested && isVfioDriver(m.driver)) {
        wanted.set(m.address, null);
        notes.push(`${m.address} has no journal entry (vfioctl did not move it): using the kernel's normal probe.`);
      }
    }
  }
  return { entries: [...wanted], notes };
}

export interface ReattachResult {
  changed: boolean;
  dryRun: boolean;
  writes: HostWrite[];
  devices: { address: string; from: string | null; to: string | null; action: 'restored' | 'would-restore' | 'unchanged' }[];
  notes: string[];
  /**
   * A dry run of a reattach the real run would refuse (a group in use, in-use.ts): the exit code it would have,
   * 12, which the dry run exits with too after printing its writes and notes. Absent otherwise.
   */
  exitCode?: typeof ExitCode.locked;
}

export function dryRunReattach(journal: Journal, host: Host, doc: LibvirtDocument | null, byHand?: ByHand): ReattachResult {
  const { entries, notes } = reattachTargets(journal, host, doc, undefined, byHand);
  const targets = restoreTargets(host, entries);
  const steps = planRestoreWrites(targets, host.reader.layout);
  const touched = new Set(steps.map((s) => s.device));
  const inUse = inUseNotes(host, steps);
  return {
    changed: steps.length > 0,
    dryRun: true,
    writes: steps.map((s) => toHostWrite(s.write)),
    devices: targets.map((t) => ({
      address: t.dev.name,
      from: t.dev.driver,
      to: t.original ? t.original.driver : null,
      action: touched.has(t.dev.name) ? 'would-restore' : 'unchanged',
    })),
    notes: [...notes, ...inUse],
    ...(inUse.length > 0 ? { exitCode: ExitCode.locked } : {}),
  };
}

export function runReattach(session: WriteSession, doc: LibvirtDocument | null, command: string, owner?: Owner, byHand?: ByHand): ReattachResult {
  const { host, kernel, journal } = session;
  const { entries, dropped, notes: targetNotes } = reattachTargets(journal, host, doc, owner, byHand);
  const before = new Map(restoreTargets(host, entries).map((t) => [t.dev.name, t.dev.driver]));
  const steps = planRestoreWrites(restoreTargets(host, entries), host.reader.layout);
  // A group a VM holds would make an unbind hang: refused before any write (in-use.ts).
  refuseGroupsInUse(host, kernel, journal, steps);
  // Nodes `detach --owner` gave away go back first, while the devices are still on vfio (node-owner.ts).
  const notes = [...targetNotes, ...restoreNodes(session, entries.map(([a]) => a))];
  journal.forget(dropped);
  if (steps.length === 0 && !journal.data.operation) {
    journal.forget(entries.map(([a]) => a));
    if (entries.length + dropped.length > 0) journal.save();
    return { changed: false, dryRun: false, writes: [], devices: entries.map(([a]) => ({ address: a, from: before.get(a) ?? null, to: before.get(a) ?? null, action: 'unchanged' })), notes: [...notes, 'Nothing to do: no device vfioctl moved is on vfio-pci.'] };
  }
  journal.begin(command, steps.map((s) => s.write));
  const performedBefore = kernel.performed.length;
  const outcome = restore(host, kernel, entries);
  journal.forget(outcome.restored);
  if (outcome.left.length === 0) journal.finish();
  else journal.save();
  const writes = kernel.performed.slice(performedBefore).map(toHostWrite);
  if (outcome.left.length > 0) {
    // Each device as it is now, restored or not: what the admin has to look at.
    const now = entries.map(([a, o]) => `${a} is on ${currentDriver(host.reader, a) ?? 'no driver'}${o?.driver ? ` (recorded: ${o.driver})` : ''}`);
    throw new RollbackIncompleteError(
      `Reattach could not restore everything:\n${outcome.left.map((l) => `  - ${l.reason}`).join('\n')}\nNow: ${now.join('; ')}.`,
      `Restored: ${outcome.restored.join(', ') || 'none'}. The journal ${journal.file} keeps the rest; run \`vfioctl reattach --all\` again once the cause is fixed.`,
      { writes, restored: outcome.restored, left: outcome.left },
    );
  }
  return {
    changed: writes.length > 0,
    dryRun: false,
    writes,
    devices: entries.map(([a, o]) => ({ address: a, from: before.get(a) ?? null, to: o ? o.driver : null, action: 'restored' })),
    notes,
  };
}
