import { NotViableError } from '../errors.js';
import type { HostReader } from '../host/reader.js';
import { readJournalDevices } from '../host/journal-devices.js';
import type { Blocker, GroupPlan } from './analyze.js';

/**
 * Who vfioctl holds a device for: the libvirt domain (or network) whose hook moved it. The journal
 * (src/run/journal.ts) records it per device; `release end` of a domain gives back only what it owns, and a
 * domain's `prepare begin` is refused for a group that vfioctl holds for another domain. A device moved by
 * a plain `vfioctl detach` has no owner: it belongs to whoever runs `reattach`.
 */
export interface Owner {
  kind: 'domain' | 'network';
  /** libvirt's <uuid>; '' when the XML has none (then the name decides). */
  uuid: string;
  name: string;
}

export function sameOwner(a: Owner, b: Owner): boolean {
  if (a.kind !== b.kind) return false;
  return a.uuid !== '' && b.uuid !== '' ? a.uuid === b.uuid : a.name === b.name;
}

export function describeOwner(o: Owner): string {
  return `${o.kind} '${o.name}'${o.uuid ? ` (${o.uuid})` : ''}`;
}

/**
 * The owner of each device vfioctl holds, read from the journal in ROOT/run/vfioctl (read-only: the run
 * layer writes it). A missing journal holds nothing; one that cannot be parsed is left to the run layer,
 * which refuses it with its own message.
 */
export function holdings(reader: HostReader): Map<string, Owner> {
  return readHoldings(reader).owners;
}

/** Every device the journal records (vfioctl moved it), and the owners of those a libvirt hook moved. */
interface Holdings {
  held: Set<string>;
  owners: Map<string, Owner>;
}

function readHoldings(reader: HostReader): Holdings {
  const out: Holdings = { held: new Set(), owners: new Map() };
  for (const [addr, rec] of Object.entries(readJournalDevices(reader.layout) as Record<string, { owner?: Owner } | null>)) {
    out.held.add(addr);
    const o = rec?.owner;
    if (o && typeof o.name === 'string' && typeof o.uuid === 'string' && (o.kind === 'domain' || o.kind === 'network')) out.owners.set(addr, o);
  }
  return out;
}

const reported = new WeakMap<HostReader, Holdings>();

function reportedHoldings(reader: HostReader): Holdings {
  let h = reported.get(reader);
  if (!h) reported.set(reader, (h = readHoldings(reader)));
  return h;
}

/** holdings(), read once per reader: `list` reports every group from one read of the journal. */
export function reportHoldings(reader: HostReader): Map<string, Owner> {
  return reportedHoldings(reader).owners;
}

/** The devices the journal records, from the same single read: the `held` mark of list and group-info. */
export function reportHeld(reader: HostReader): ReadonlySet<string> {
  return reportedHoldings(reader).held;
}

/** Who holds a group: the owner of the first member vfioctl holds for someone, or null. */
export function groupHolder(members: readonly string[], held: ReadonlyMap<string, Owner>): Owner | null {
  for (const m of members) {
    const o = held.get(m);
    if (o) return o;
  }
  return null;
}

/**
 * A domain may not take a group that vfioctl holds for another domain: QEMU would find its devices on
 * vfio-pci and open the group while the first VM holds it. A group held for a hostdev network is meant to
 * be used by domains, so it does not block.
 */
export function ownershipBlockers(groups: GroupPlan[], reader: HostReader, requester: Owner | undefined): Blocker[] {
  if (!requester || groups.length === 0) return [];
  const held = holdings(reader);
  const blockers: Blocker[] = [];
  for (const g of groups) {
    const holder = groupHolder(
      g.members.map((m) => m.address),
      held,
    );
    if (!holder || holder.kind !== 'domain' || sameOwner(holder, requester)) continue;
    const named = g.members.find((m) => m.requested)?.address ?? g.members[0]!.address;
    blockers.push({
      kind: 'held',
      device: named,
      message: `${named}: IOMMU group ${g.group} is held by vfioctl for ${describeOwner(holder)}, which has not released it. Stop that domain first (virsh shutdown or virsh destroy), or assign another device.`,
    });
  }
  return blockers;
}

/**
 * A reattach by hand of one domain's (or network's) XML may not give back what vfioctl holds for another one:
 * that domain may be running with the devices, as the hook refuses a second domain at `prepare begin`.
 * Returns the refusal naming each holder and its devices, or null when every device is the requester's or
 * has no owner (a plain `detach`: whoever runs reattach may have it). `--force` skips this check.
 */
export function foreignHolderError(recorded: readonly [string, { owner?: Owner } | null][], requester: Owner, file: string): NotViableError | null {
  const byHolder = new Map<string, { holder: Owner; devices: string[] }>();
  for (const [address, rec] of recorded) {
    const o = rec?.owner;
    if (!o || sameOwner(o, requester)) continue;
    const key = `${o.kind} ${o.uuid} ${o.name}`;
    const entry = byHolder.get(key) ?? { holder: o, devices: [] };
    entry.devices.push(address);
    byHolder.set(key, entry);
  }
  if (byHolder.size === 0) return null;
  const lines = [...byHolder.values()].map(({ holder, devices }) => `  - ${devices.join(', ')}: for ${describeOwner(holder)}, ${stopCommand(holder)}`);
  return new NotViableError(
    `Nothing was given back: ${file} is ${describeOwner(requester)}, and vfioctl holds devices it names for another:\n${lines.join('\n')}`,
    "Stop it first (libvirt's hook then gives its devices back), or reattach with its own XML; `vfioctl reattach FILE --force` gives them back anyway.",
  );
}

function stopCommand(o: Owner): string {
  return o.kind === 'domain' ? `which may be running with them (\`virsh destroy ${o.name}\` stops it)` : `whose pool they are in (\`virsh net-destroy ${o.name}\` stops it)`;
}
