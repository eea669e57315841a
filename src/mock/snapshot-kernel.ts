import path from 'node:path';
import type { HostReader } from '../host/reader.js';
import { isolation } from '../host/isolation.js';
import { readJournalDevices } from '../host/journal-devices.js';
import { listDir, readOptional, readTextFile } from '../host/sysfs-read.js';
import { NON_PCI_BUSES, SHARED_FS_TAG, type HeldDescription, type HostDescription, type NonPciDeviceDescription } from './description.js';

/**
 * What `vfioctl snapshot` records beside the PCI functions, for the warnings and verdicts read from them
 * (src/host/isolation.ts, src/host/non-pci.ts, src/host/usage.ts): materialize.ts and non-pci.ts build each
 * back. Only what vfioctl reads, so nothing identifying: of proc/cmdline just its pcie_acs_override= word,
 * of IPv6 just which interfaces have a global address or a default route.
 */
export function snapshotIsolation(reader: HostReader): Pick<HostDescription['kernel'], 'cmdline' | 'vfioNoiommu' | 'noiommuGroups'> {
  const iso = isolation(reader);
  const out: Pick<HostDescription['kernel'], 'cmdline' | 'vfioNoiommu' | 'noiommuGroups'> = {};
  if (iso.acsOverride !== null && /^[\x21-\x7e]{1,4000}$/.test(iso.acsOverride)) out.cmdline = iso.acsOverride;
  const param = readOptional(reader.layout.onHost('/sys/module/vfio/parameters/enable_unsafe_noiommu_mode'));
  if (param !== undefined) out.vfioNoiommu = iso.noiommuMode;
  if (iso.noiommuGroups.length > 0) out.noiommuGroups = [...iso.noiommuGroups];
  return out;
}

/**
 * The members of IOMMU groups that are not PCI functions, as the groups list them (what group-info reads),
 * in group and name order. A member on a bus a description cannot hold is left out, and named in `omitted`.
 */
export function snapshotNonPci(reader: HostReader, omitted: string[]): NonPciDeviceDescription[] {
  const out: NonPciDeviceDescription[] = [];
  for (const group of reader.listGroups()) {
    for (const m of reader.groupNonPci(group).sort((a, b) => (a.name < b.name ? -1 : 1))) {
      const bus = NON_PCI_BUSES.find((b) => b === m.bus);
      if (bus !== undefined) out.push({ name: m.name, bus, driver: m.driver, iommuGroup: group });
      else omitted.push(`${m.name} in IOMMU group ${group} is left out: it is on ${m.bus === null ? 'no bus' : `the ${m.bus} bus`}, and a description holds non-PCI devices on ${NON_PCI_BUSES.join(', ')} only; checks of that group against the snapshot miss it.`);
    }
  }
  return out;
}

/**
 * The interfaces (of those recorded) with a global IPv6 address (proc/net/if_inet6, scope 00) and with an
 * IPv6 default route (proc/net/ipv6_route, ::/0): what makes an interface carry traffic besides its IPv4 routes.
 */
export function snapshotIpv6(reader: HostReader, ifaces: Set<string>): HostDescription['ipv6'] {
  const addresses = new Set<string>();
  const defaultRoutes = new Set<string>();
  for (const line of (readTextFile(reader.layout.procIfInet6) ?? '').split('\n')) {
    const f = line.trim().split(/\s+/);
    if (f.length >= 6 && f[3] === '00' && ifaces.has(f[5]!)) addresses.add(f[5]!);
  }
  for (const line of (readTextFile(reader.layout.procIpv6Route) ?? '').split('\n')) {
    const f = line.trim().split(/\s+/);
    if (f.length >= 10 && /^0{32}$/.test(f[0]!) && f[1] === '00' && ifaces.has(f[9]!)) defaultRoutes.add(f[9]!);
  }
  if (addresses.size === 0 && defaultRoutes.size === 0) return undefined;
  return {
    ...(addresses.size > 0 ? { addresses: [...addresses].sort() } : {}),
    ...(defaultRoutes.size > 0 ? { defaultRoutes: [...defaultRoutes].sort() } : {}),
  };
}

/**
 * The tag of a 9p or virtiofs filesystem a virtio function serves (DEV/virtioN/mount_tag for 9p, tag for
 * virtiofs), when it has a valid one; mounts of it are recorded with the tag as their source.
 */
export function snapshotSharedFs(deviceDir: string): { fstype: '9p' | 'virtiofs'; tag: string } | undefined {
  for (const e of (listDir(deviceDir) ?? []).filter((n) => /^virtio[0-9]+$/.test(n)).sort()) {
    for (const [file, fstype] of [['mount_tag', '9p'], ['tag', 'virtiofs']] as const) {
      const tag = readOptional(path.join(deviceDir, e, file))?.replace(/\0/g, '').trim();
      if (tag !== undefined && SHARED_FS_TAG.test(tag)) return { fstype, tag };
    }
  }
  return undefined;
}

/** The mounts of the recorded 9p/virtiofs tags: proc/mounts lines whose source is one. */
export function sharedFsMounts(procMounts: string, tags: Map<string, string>): HostDescription['mounts'] {
  const out: HostDescription['mounts'] = [];
  for (const line of (readTextFile(procMounts) ?? '').split('\n')) {
    const [source, target, fstype] = line.split(' ');
    if (source && target && fstype && tags.get(source) === fstype) out.push({ source, target, fstype });
  }
  return out;
}

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
