import { formatAddress } from '../pci/address.js';
import type { Assignment, AssignmentTarget, LibvirtDocument, SourceRef } from './assignment.js';
import { fail } from './elements.js';
import type { GroupMetadata, MetadataDevice, MetadataTarget } from './metadata.js';

/**
 * Each assignment's group mode, by precedence: the `<driver group=>` attribute when present (the libvirt
 * proposal's form, in files not yet defined: libvirt drops it on define), else the vfioctl metadata entry for
 * that device, else the metadata's default, else manual. One device with two different modes, or a metadata
 * entry for a device the document does not assign, is an error naming the places: a typo must not go unnoticed.
 */
export function resolveGroupModes(doc: LibvirtDocument, meta: GroupMetadata | undefined): LibvirtDocument {
  if (!meta) return doc;
  const byKey = entriesByKey(meta.devices);
  const used = new Set<MetadataDevice>();
  const assignments = doc.assignments.map((a) => {
    const entry = byKey.get(assignmentKey(a.target));
    if (entry) used.add(entry);
    return withMetadata(a, entry, meta);
  });
  for (const d of meta.devices) {
    if (used.has(d)) continue;
    const what = doc.kind === 'domain' ? "no <hostdev> or <interface type='hostdev'> names it" : "the <forward mode='hostdev'> pool does not name it";
    fail(
      d.source,
      `${shown(d.target)} is not assigned by ${doc.kind} '${doc.name}' (${what}); an entry for a device that is not there is a typo vfioctl will not ignore.`,
      d.target.type === 'dev' && doc.kind === 'domain'
        ? 'In a domain, name the device by its PCI address: address="0000:02:01.0".'
        : 'Correct the address, or remove the entry.',
    );
  }
  return { ...doc, assignments };
}

function withMetadata(a: Assignment, entry: MetadataDevice | undefined, meta: GroupMetadata): Assignment {
  if (a.groupModeSource === 'attribute') {
    if (entry && entry.mode !== a.groupMode) {
      fail(
        a.groupModeRef!,
        `group='${a.groupMode}' here, but the vfioctl metadata gives ${shown(entry.target)} group="${entry.mode}" at ${at(entry.source)}; one device has one group mode.`,
        'Remove one of the two (vfioctl metadata FILE moves the attribute into the metadata).',
      );
    }
    return a;
  }
  let resolved: Assignment = a;
  if (entry) resolved = { ...a, groupMode: entry.mode, groupModeExplicit: true, groupModeSource: 'metadata-device', groupModeRef: entry.source };
  else if (meta.defaultMode) resolved = { ...a, groupMode: meta.defaultMode, groupModeExplicit: true, groupModeSource: 'metadata-default', groupModeRef: meta.source };
  else return a;
  checkMetadataModeFits(resolved);
  return resolved;
}

/** The rules the attribute obeys (src/xml/driver-element.ts, src/xml/domain.ts), for a mode the metadata gives. */
function checkMetadataModeFits(a: Assignment): void {
  const from = `the vfioctl metadata at ${at(a.groupModeRef!)} gives it group="${a.groupMode}"`;
  if (a.driverName !== undefined && a.driverName !== 'vfio') {
    fail(a.source, `${from}, but its <driver name='${a.driverName}'/> is not VFIO; IOMMU group management belongs to VFIO device assignment.`, "Write <driver name='vfio'/>, or name the other devices with <vfioctl:device> entries instead of a default.");
  }
  if (a.kind === 'interface' && !a.managed) {
    fail(
      a.source,
      `${from}, but an <interface type='hostdev'> needs managed='yes' for a group mode (libvirt manages the group only of an interface it manages).`,
      "Write <interface type='hostdev' managed='yes'>, or name the other devices with <vfioctl:device> entries instead of a default.",
    );
  }
}

/** Entries by device (a Map: a 4 MiB file can hold thousands), refusing a device named twice. */
function entriesByKey(devices: MetadataDevice[]): Map<string, MetadataDevice> {
  const byKey = new Map<string, MetadataDevice>();
  for (const d of devices) {
    const key = entryKey(d.target);
    const first = byKey.get(key);
    if (!first) {
      byKey.set(key, d);
      continue;
    }
    const modes = first.mode === d.mode ? `group="${d.mode}" both times` : `group="${first.mode}" there, group="${d.mode}" here`;
    fail(d.source, `${shown(d.target)} is already named at ${at(first.source)} (${modes}); name each device once.`, 'Remove one of the two entries.');
  }
  return byKey;
}

/** An address matches an address target; a dev= matches a pool member named by its interface (<pf>, <interface>). */
function entryKey(t: MetadataTarget): string {
  return t.type === 'address' ? formatAddress(t.address) : `dev ${t.dev}`;
}

function assignmentKey(t: AssignmentTarget): string {
  return t.type === 'address' ? formatAddress(t.address) : `dev ${t.dev}`;
}

function shown(t: MetadataTarget): string {
  return t.type === 'address' ? formatAddress(t.address) : `dev="${t.dev}"`;
}

function at(r: SourceRef): string {
  return `${r.file}:${r.line}`;
}
