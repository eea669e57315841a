import { UnsafeError } from '../errors.js';
import type { PersistedDevice } from './record.js';
import { readRecord } from './store.js';

/**
 * What `detach` and `reattach` need to know of persistence: the devices held on vfio-pci from boot, so that
 * a detach of one says it is persisted, and a reattach does not give a persisted GPU back to its host driver
 * by accident (it asks for `vfioctl unpersist` first, or `--force`). Called by the command layer
 * (src/cli/commands/detach.ts, reattach.ts) on what run/ planned; run/ itself knows nothing of persistence.
 */

/** The devices persisted on the host under `root`, in address order; none when nothing is persisted. */
export function persistedDevices(root: string): PersistedDevice[] {
  return readRecord(root)?.devices ?? [];
}

const where = (d: PersistedDevice): string => `${d.source.file} (${d.source.kind} '${d.source.name}')`;

/** A detach's note for each persisted device it planned: already held, or taken now as the boot would. */
export function detachNotes(persisted: readonly PersistedDevice[], devices: readonly { address: string; action: string; from: string | null }[]): string[] {
  const notes: string[] = [];
  for (const d of devices) {
    const p = persisted.find((x) => x.address === d.address);
    if (!p) continue;
    notes.push(
      d.action === 'already'
        ? `${d.address} is persisted (on vfio-pci from boot, from ${where(p)}): nothing to do.`
        : `${d.address} is persisted (from ${where(p)}) but was on ${d.from ?? 'no driver'}: detach puts it where the boot would.`,
    );
  }
  return notes;
}

/** Refuses a reattach that would give back persisted devices, naming them and the unpersist to run first. */
export function refuseGivingBack(persisted: readonly PersistedDevice[], devices: readonly { address: string; action: string }[]): void {
  const back = devices.filter((d) => d.action === 'would-restore' || d.action === 'restored').flatMap((d) => persisted.filter((p) => p.address === d.address));
  if (back.length === 0) return;
  const sources = [...new Set(back.map((p) => (p.source.file === '<stdin>' ? back[0]!.address : p.source.file)))];
  throw new UnsafeError(
    `Not reattaching: ${back.map((p) => p.address).join(', ')} ${back.length === 1 ? 'is' : 'are'} persisted (held on vfio-pci from boot, from ${[...new Set(back.map(where))].join(', ')}); nothing was written.`,
    `Run \`vfioctl unpersist ${sources.join(' ')}\` first, then reattach; or reattach --force to give ${back.length === 1 ? 'it' : 'them'} back until the next boot, when the udev rule holds ${back.length === 1 ? 'it' : 'them'} again.`,
  );
}
