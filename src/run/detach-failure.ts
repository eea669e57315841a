import { errnoOf, KernelWriteError, RollbackIncompleteError, VfioctlError } from '../errors.js';
import { toHostWrite } from '../host/layout.js';
import type { Host } from '../host/host.js';
import type { Kernel } from '../kernel/kernel.js';
import { parseSysfsAddress } from '../pci/address.js';
import type { Move } from '../plan/vfio-driver.js';
import { planRestoreWrites, type PlanStep, type PriorBinding } from '../plan/writes.js';
import { StepError } from './execute.js';
import { groupsInUse, groupWhat } from './in-use.js';
import type { Journal } from './journal.js';
import { restore, restoreTargets, type RestoreOutcome } from './restore.js';
import type { WriteSession } from './session.js';

/**
 * What a detach that failed after its journal was begun turns into: every device it moved is put back
 * (whatever the failure: a refused write, a journal that cannot be saved on a full or read-only run/, a
 * tree that cannot be read while verifying), the journal forgets what went back, and the error says what
 * failed and what was restored. `at.done` is how many writes had completed, `at.performedBefore` the kernel's
 * count of writes before the detach began.
 */
export function failedDetach(err: unknown, session: WriteSession, moves: Move[], at: { done: number; total: number; performedBefore: number }): Error {
  const { host, kernel, journal } = session;
  const { done, total } = at;
  const failedAt = err instanceof StepError ? `step ${err.failure.index + 1} of ${total}` : `after ${done} of ${total} writes`;
  const reason = err instanceof StepError ? err.failure.reason : err instanceof Error ? err.message : String(err);
  const entries = moves.map(({ dev }) => [dev.name, journal.data.devices[dev.name] ?? null] as [string, PriorBinding | null]);
  let outcome: RestoreOutcome;
  let heldNote = '';
  try {
    const held = heldSinceMoved(host, kernel, entries);
    outcome = restore(host, kernel, entries.filter(([name]) => !held.some((l) => l.device === name)));
    outcome.left.push(...held);
    if (held.length > 0) heldNote = ' once the process holding the group lets go (a VM: `virsh destroy NAME`)';
  } catch (rollbackErr) {
    const why = rollbackErr instanceof Error ? rollbackErr.message : String(rollbackErr);
    return new RollbackIncompleteError(
      `Detach failed ${failedAt.startsWith('after') ? failedAt : `at ${failedAt}`}: ${reason}\nThe rollback stopped: ${why}`,
      `The journal in ${journal.file} records the devices; fix the cause and run \`vfioctl reattach --all\`.`,
    );
  }
  journal.forget(outcome.restored);
  let journalNote = '';
  try {
    journal.finish();
  } catch (saveErr) {
    // The devices are back; a journal left saying otherwise is cleared by the next reattach --all (it finds them home).
    journalNote = `\nThe journal ${journal.file} could not be updated (${errnoOf(saveErr) ?? (saveErr as Error).message}); \`vfioctl reattach --all\` clears it once run/vfioctl is writable.`;
  }
  const where = failedAt.startsWith('after') ? failedAt : `at ${failedAt}`;
  // What --json adds to the error (README, "JSON output"): every write made, the one refused, what went back.
  const details = {
    writes: kernel.performed.slice(at.performedBefore).map(toHostWrite),
    ...(err instanceof StepError ? { failedStep: { index: err.failure.index, of: total, ...toHostWrite(err.failure.step.write), reason: err.failure.reason } } : {}),
    restored: outcome.restored,
    left: outcome.left,
  };
  if (outcome.left.length > 0) {
    return new RollbackIncompleteError(
      `Detach failed ${where}: ${reason}\nThe rollback could not restore everything:\n${[...new Set(outcome.left.map((l) => `  - ${l.reason}`))].join('\n')}${journalNote}`,
      `The journal in ${journal.file} still records them; ${heldNote ? `run \`vfioctl reattach --all\`${heldNote}` : 'fix the cause and run `vfioctl reattach --all`'}.`,
      details,
    );
  }
  const n = outcome.restored.length;
  const rolledBack = n === 0 ? 'Rolled back: nothing had moved yet.' : `Rolled back: ${outcome.restored.join(', ')} ${n === 1 ? 'is' : 'are'} back on ${n === 1 ? 'its' : 'their'} original driver${n === 1 ? '' : 's'}.`;
  const message = `Detach failed ${where}: ${reason}\n${rolledBack}${journalNote}`;
  if (err instanceof StepError) return new KernelWriteError(message, undefined, details);
  if (err instanceof VfioctlError) {
    // The same kind of failure (its exit code and hint), now saying what was rolled back.
    err.message = message;
    return err;
  }
  return err instanceof Error ? Object.assign(err, { message }) : new Error(message);
}

/**
 * The devices the rollback must leave as they are: a process (a VM started by hand meanwhile) opened the group of
 * a device the detach bound to its vfio driver, so its unbind would block until it lets go (docs/sysfs-semantics.md,
 * "A group in use"). The whole group stays: its members on the vfio driver, the others unbound with their
 * driver_override still naming it (binding a host driver beside a VM's device is what the move avoided). Each
 * such device with one sentence per group, naming the holder; the journal keeps them for `reattach --all`.
 */
function heldSinceMoved(host: Host, kernel: Kernel, entries: [string, PriorBinding | null][]): { device: string; reason: string }[] {
  const held = groupsInUse(host, kernel, planRestoreWrites(restoreTargets(host, entries), host.reader.layout));
  return held.flatMap((g) => {
    const members = entries.map(([name]) => name).filter((name) => {
      const addr = parseSysfsAddress(name);
      return addr ? host.reader.tryDevice(addr)?.iommuGroup === g.group : false;
    });
    const reason = `${groupWhat(members, g.group)}: ${g.holders} The rollback left them as they are: unbinding from the vfio driver would block until it lets go.`;
    return members.map((device) => ({ device, reason }));
  });
}

/** Begins the detach's journal operation, on disk before the first write; a failure to save it says nothing was detached. */
export function beginDetach(journal: Journal, command: string, steps: PlanStep[]): void {
  try {
    journal.begin(command, steps.map((s) => s.write));
  } catch (err) {
    if (err instanceof VfioctlError) err.message = `${err.message} Nothing was detached.`;
    throw err;
  }
}
