import type { HostReader } from '../host/reader.js';
import { readJournalDevices } from '../host/journal-devices.js';
import type { HeldDescription } from './description.js';

const JOURNAL_TEXT = /^[\x20-\x7e]{0,200}$/;

/** One journal entry, when every field is one a description can hold (src/mock/validate.ts checks the same). */
export function heldEntry(address: string, e: unknown): HeldDescription | undefined {
  if (typeof e !== 'object' || e === null) return undefined;
  const r = e as Record<string, unknown>;
  const driverOrNull = (v: unknown): v is string | null => v === null || (typeof v === 'string' && DRIVER.test(v));
  const ok =
    driverOrNull(r.driver) && driverOrNull(r.override) && (r.method === 'driver_override' || r.method === 'new_id') && typeof r.vendor === 'string' && HEX4.test(r.vendor) &&
    typeof r.device === 'string' && HEX4.test(r.device) && typeof r.since === 'string' && JOURNAL_TEXT.test(r.since) && typeof r.by === 'string' && JOURNAL_TEXT.test(r.by);
  if (!ok) return undefined;
  const out: HeldDescription = { address, driver: r.driver as string | null, override: r.override as string | null, method: r.method as HeldDescription['method'], vendor: r.vendor as string, device: r.device as string, since: r.since as string, by: r.by as string };
  const o = r.owner as Record<string, unknown> | undefined;
  if (o && (o.kind === 'domain' || o.kind === 'network') && typeof o.uuid === 'string' && JOURNAL_TEXT.test(o.uuid) && typeof o.name === 'string' && JOURNAL_TEXT.test(o.name)) {
    out.owner = { kind: o.kind, uuid: o.uuid, name: o.name };
  }
  if (Array.isArray(r.interfaces) && r.interfaces.every((n) => typeof n === 'string' && IFNAME.test(n))) out.interfaces = [...(r.interfaces as string[])];
  if (Array.isArray(r.links) && r.links.every((l) => typeof l?.name === 'string' && IFNAME.test(l.name) && typeof l.operstate === 'string' && /^[a-z]{1,20}$/.test(l.operstate))) {
    out.links = (r.links as { name: string; operstate: string }[]).map((l) => ({ name: l.name, operstate: l.operstate }));
  }
  return out;
}

const DRIVER = /^[A-Za-z0-9_.+:-]{1,64}$/;
const HEX4 = /^[0-9a-f]{4}$/;
const IFNAME = /^[A-Za-z0-9_.:-]{1,15}$/;

/**
 * The journal's devices that are devices of the description, in address order; none without a journal.
 * `since` and `by` only say when and by which command (`detach FILE`, any file name): fitted to printable
 * ASCII rather than lost. An entry or an owner a description cannot hold is named in `omitted`: without it
 * the snapshot would say, silently, that nothing or no domain holds the device.
 */
export function snapshotHeld(reader: HostReader, addresses: Set<string>, omitted: string[] = []): HeldDescription[] {
  const fit = (v: unknown): unknown => (typeof v === 'string' ? v.replace(/[^\x20-\x7e]/g, '?').slice(0, 200) : v);
  return Object.entries(readJournalDevices(reader.layout))
    .filter(([a]) => addresses.has(a))
    .sort(([a], [b]) => (a < b ? -1 : 1))
    .flatMap(([a, e]) => {
      const r = typeof e === 'object' && e !== null ? (e as Record<string, unknown>) : {};
      const entry = heldEntry(a, { ...r, since: fit(r.since), by: fit(r.by) });
      if (entry === undefined) omitted.push(`${a} is left out of held (its entry in vfioctl's journal is not one a description can hold): against the snapshot, vfioctl does not hold it.`);
      else if (r.owner !== undefined && entry.owner === undefined) omitted.push(`the owner vfioctl's journal records for ${a} is left out (its kind, uuid or name is not one a description can hold): against the snapshot the device is held by no domain.`);
      return entry ?? [];
    });
}
