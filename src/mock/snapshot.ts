import fs from 'node:fs';
import path from 'node:path';
import type { Host } from '../host/host.js';
import { listDir, readBytes, readOptional, readTextFile } from '../host/sysfs-read.js';
import { formatAddress, parseSysfsAddress, type PciAddress } from '../pci/address.js';
import type { HostLayout } from '../host/layout.js';
import type { PciDevice } from '../pci/device.js';
import { snapshotHeld } from './snapshot-held.js';
import { snapshotIpv6 } from './snapshot-ipv6.js';
import { snapshotIsolation } from './snapshot-isolation.js';
import { snapshotNonPci } from './snapshot-non-pci.js';
import { sharedFsMounts, snapshotSharedFs } from './snapshot-shared-fs.js';
import { snapshotMounts, snapshotNetUppers, snapshotStorage } from './snapshot-layers.js';
import { NAME_PATTERN } from './snapshot-names.js';
import { writeOutputFile } from './write-output.js';
import { defaultProbeRefusals, HOST_FORMAT, idMatches, type DeviceDescription, type DriverDescription, type HostDescription, type IdMatch } from './description.js';

/**
 * `vfioctl snapshot`: reads a host (the real / or any root) without writing anything and describes it in the
 * format of mock-sysfs/hosts, so a CI job can plan against it and `vfioctl mock create` can rebuild it.
 * It records no MAC addresses, serial numbers or hostnames: only what device assignment needs. What it read
 * but cannot record is said in `omitted`, one sentence each.
 */
export function snapshotHost(host: Host, name: string, omitted: string[] = []): HostDescription {
  const reader = host.reader;
  const addrs = reader.listAddresses();
  const devices = snapshotDevices(host, addrs);
  const { layers, netUppers, mounts, swaps: swapList, routes: routeList, ifaces } = snapshotUses(reader.layout, devices);
  const desc: HostDescription = {
    format: HOST_FORMAT,
    name,
    summary: `snapshot of a host running ${host.release ?? 'an unknown kernel'}`,
    kernel: kernelFacts(host, devices, addrs),
    drivers: driverTable(host, devices),
    devices,
    mounts,
    swaps: swapList,
    routes: routeList,
  };
  if (netUppers.length > 0) desc.netUppers = netUppers;
  if (Object.keys(layers.storage).length > 0) desc.storage = layers.storage;
  const nonPci = snapshotNonPci(reader, omitted);
  if (nonPci.length > 0) desc.nonPciDevices = nonPci;
  const ipv6 = snapshotIpv6(reader, ifaces);
  if (ipv6 !== undefined) desc.ipv6 = ipv6;
  const held = snapshotHeld(reader, new Set(devices.map((d) => d.address)), omitted);
  if (held.length > 0) desc.held = held;
  // What persist reads of the distribution (src/persist/early-drivers.ts), as it reads it.
  const osRelease = readTextFile(host.reader.layout.onHost('/etc/os-release')) ?? readTextFile(host.reader.layout.onHost('/usr/lib/os-release'));
  if (osRelease !== undefined && /^[^\u0000]{0,4096}$/.test(osRelease)) desc.osRelease = osRelease;
  return desc;
}

/** Every PCI function, in the reader's order. */
function snapshotDevices(host: Host, addrs: PciAddress[]): DeviceDescription[] {
  const blockByController = blockDevices(host.reader.layout.classBlockDir);
  return addrs.map((addr) => {
    const d = deviceDescription(host, addr);
    const blocks = blockByController.get(d.address);
    if (blocks) d.block = blocks;
    return orderDeviceKeys(d);
  });
}

/** One function: its IDs, place, driver and group, and what it has beyond them. */
function deviceDescription(host: Host, addr: PciAddress): DeviceDescription {
  const reader = host.reader;
  const dev = reader.device(addr);
  const dir = fs.realpathSync.native(reader.layout.device(addr));
  const parent = parseSysfsAddress(path.basename(path.dirname(dir)));
  const d: DeviceDescription = {
    address: dev.name,
    parent: parent ? formatAddress(parent) : null,
    vendor: dev.vendor,
    device: dev.device,
    subsystemVendor: dev.subsystemVendor ?? '0000',
    subsystemDevice: dev.subsystemDevice ?? '0000',
    class: dev.class,
    headerType: dev.headerType ?? (dev.isBridge ? 1 : 0),
    driver: dev.driver,
    driverOverride: dev.driverOverride,
    iommuGroup: dev.iommuGroup,
  };
  addHeaderAndNames(d, readBytes(path.join(dir, 'config'), 0x10), host);
  if (dev.class.startsWith('0300')) d.bootVga = dev.bootVga;
  const reset = resetMethods(dev, d.headerType);
  if (reset !== undefined) d.reset = reset;
  if (dev.netInterfaces.length > 0) d.net = dev.netInterfaces.map((n) => ({ name: n, operstate: reader.interfaceOperstate(n) ?? 'unknown' }));
  addSriov(d, dir);
  if (dev.physfn) {
    d.physfn = formatAddress(dev.physfn);
    const vfIndex = vfIndexOf(fs.realpathSync.native(reader.layout.device(dev.physfn)), dev.name);
    if (vfIndex !== undefined) d.vfIndex = vfIndex;
  }
  if (dev.vendor === '1af4') {
    const shared = snapshotSharedFs(dir);
    if (shared) d.sharedFs = shared;
  }
  return d;
}

/** The multifunction bit and revision from config space, and the names pci.ids gives the IDs. */
function addHeaderAndNames(d: DeviceDescription, config: Buffer | undefined | null, host: Host): void {
  if (config && config.length > 0x0e && (config[0x0e]! & 0x80) !== 0) d.multifunction = true;
  if (config && config.length > 8) d.revision = config[8]!.toString(16).padStart(2, '0');
  const names = host.ids.names(d.vendor, d.device);
  if (names.vendor !== undefined && NAME_PATTERN.test(names.vendor)) d.vendorName = names.vendor;
  if (names.device !== undefined && NAME_PATTERN.test(names.device)) d.deviceName = names.device;
}

/**
 * A description's keys in the order the format has always written them (block before sriov), so that a
 * snapshot of an unchanged host is the same text from one version to the next.
 */
function orderDeviceKeys(d: DeviceDescription): DeviceDescription {
  const { sriov, physfn, vfIndex, sharedFs, ...head } = d;
  return { ...head, ...(sriov ? { sriov } : {}), ...(physfn !== undefined ? { physfn } : {}), ...(vfIndex !== undefined ? { vfIndex } : {}), ...(sharedFs ? { sharedFs } : {}) };
}

/** reset_method, kept when it is not what a description without `reset` gets (materialize.ts); before 5.15, none. */
function resetMethods(dev: PciDevice, headerType: number): string[] | undefined {
  if (dev.resetMethod === undefined || (dev.resetMethod === null && dev.resetFile)) return undefined;
  const methods = (dev.resetMethod ?? '').trim().split(/\s+/).filter((m) => m.length > 0);
  return methods.join(' ') !== (headerType === 0 ? 'flr' : 'pm') ? methods : undefined;
}

function addSriov(d: DeviceDescription, dir: string): void {
  const total = readOptional(path.join(dir, 'sriov_totalvfs'))?.trim();
  if (total === undefined) return;
  d.sriov = {
    totalvfs: Number(total),
    numvfs: Number(readOptional(path.join(dir, 'sriov_numvfs'))?.trim() ?? 0),
    driversAutoprobe: readOptional(path.join(dir, 'sriov_drivers_autoprobe'))?.trim() !== '0',
  };
}

/** N of the PF's virtfnN link to this VF (the last one, when several would). */
function vfIndexOf(pfDir: string, vf: string): number | undefined {
  let index: number | undefined;
  for (const e of listDir(pfDir) ?? []) {
    if (/^virtfn[0-9]+$/.test(e) && path.basename(fs.readlinkSync(path.join(pfDir, e))) === vf) index = Number(e.slice(6));
  }
  return index;
}

/** What stands on the functions: upper network devices, block layers, and the mounts, swaps and routes on them. */
function snapshotUses(layout: HostLayout, devices: DeviceDescription[]) {
  const known = new Set(devices.flatMap((d) => (d.block ?? []).flatMap((b) => [b.name, ...(b.partitions ?? [])])));
  const ifaces = new Set(devices.flatMap((d) => (d.net ?? []).map((n) => n.name)));
  const netUppers = snapshotNetUppers(layout.classNetDir, ifaces);
  for (const u of netUppers) ifaces.add(u.name);
  const layers = snapshotStorage(layout, known);
  for (const n of layers.names) known.add(n);
  const tags = new Map(devices.flatMap((d) => (d.sharedFs ? [[d.sharedFs.tag, d.sharedFs.fstype] as const] : [])));
  const mounts = [
    ...snapshotMounts(layout, known, layers.mapper, new Set(layers.storage.zfsPools?.map((p) => p.pool))),
    ...sharedFsMounts(layout.procMounts, tags),
  ];
  return { layers, netUppers, mounts, swaps: swaps(layout.procSwaps, known), routes: routes(layout.procRoute, ifaces), ifaces };
}

/** The kernel's facts: release, vfio cdev, driver_override and autoprobe, then what isolation reads. */
function kernelFacts(host: Host, devices: DeviceDescription[], addrs: PciAddress[]): HostDescription['kernel'] {
  const reader = host.reader;
  const layout = reader.layout;
  return {
    release: host.release ?? 'unknown',
    ...(fs.existsSync(layout.onHost('/dev/iommu')) ? { vfioDeviceCdev: true } : {}),
    driverOverride: devices.length === 0 || addrs.some((a) => reader.device(a).overrideSupported),
    driversAutoprobe: readOptional(layout.onHost('/sys/bus/pci/drivers_autoprobe'))?.trim() !== '0',
    ...snapshotIsolation(reader),
  };
}

/** Disks and partitions under each PCI controller, from sys/class/block. */
function blockDevices(classBlock: string): Map<string, { name: string; partitions?: string[] }[]> {
  const map = new Map<string, { name: string; partitions?: string[] }[]>();
  const names = (listDir(classBlock) ?? []).sort();
  const targets = new Map<string, string>();
  for (const n of names) {
    try {
      targets.set(n, path.resolve(classBlock, fs.readlinkSync(path.join(classBlock, n))));
    } catch {
      /* not a link: skip */
    }
  }
  for (const [n, real] of targets) {
    const parentName = path.basename(path.dirname(real));
    if (targets.has(parentName) && targets.get(parentName) === path.dirname(real)) continue; // a partition
    const controller = real
      .split(path.sep)
      .map((p) => parseSysfsAddress(p))
      .filter((a) => a !== undefined)
      .at(-1);
    if (!controller) continue;
    const partitions = [...targets].filter(([, r]) => path.dirname(r) === real).map(([p]) => p).sort();
    const list = map.get(formatAddress(controller)) ?? [];
    list.push(partitions.length > 0 ? { name: n, partitions } : { name: n });
    map.set(formatAddress(controller), list);
  }
  return map;
}

function swaps(file: string, known: Set<string>): HostDescription['swaps'] {
  return (readTextFile(file) ?? '')
    .split('\n')
    .slice(1)
    .map((l) => l.trim().split(/\s+/)[0] ?? '')
    .filter((s) => s.startsWith('/dev/') && known.has(s.slice(5)))
    .map((source) => ({ source }));
}

const quad = (hex: string): string => [0, 1, 2, 3].map((i) => parseInt(hex.slice(6 - 2 * i, 8 - 2 * i), 16)).join('.');

function routes(file: string, ifaces: Set<string>): HostDescription['routes'] {
  const out: HostDescription['routes'] = [];
  for (const line of (readTextFile(file) ?? '').split('\n').slice(1)) {
    const f = line.trim().split(/\s+/);
    if (f.length < 8 || !ifaces.has(f[0]!)) continue;
    out.push({ iface: f[0]!, destination: quad(f[1]!), gateway: quad(f[2]!), mask: quad(f[7]!) });
  }
  return out;
}

/**
 * The driver table. A simulated host knows its own (its kernel state); on a real host the static ID tables
 * come from lib/modules/RELEASE/modules.alias, kept to the entries that match a device of this host.
 */
function driverTable(host: Host, devices: DeviceDescription[]): DriverDescription[] {
  const simulated = readTextFile(path.join(host.root, '.vfioctl-sim', 'kernel.json'));
  if (simulated) {
    const state = JSON.parse(simulated) as { drivers?: DriverDescription[] };
    if (Array.isArray(state.drivers)) return state.drivers.map((d) => ({ name: d.name, module: d.module, state: d.state, ids: d.ids, ...ownRefusals(d) }));
  }
  const layout = host.reader.layout;
  const loaded = (listDir(layout.pciDriversDir) ?? []).sort();
  const aliases = host.release ? readTextFile(path.join(layout.modulesDir(host.release), 'modules.alias')) ?? '' : '';
  const byModule = aliasTables(aliases, devices);
  const drivers: DriverDescription[] = loaded.map((name) => {
    let module: string | null = null;
    try {
      module = path.basename(fs.readlinkSync(path.join(layout.pciDriversDir, name, 'module')));
    } catch {
      module = null;
    }
    return { name, module, state: 'loaded', ids: byModule.get(module ?? name.replace(/-/g, '_')) ?? [] };
  });
  // Drivers built into the kernel have no modules.alias lines: record the bindings seen, as exact IDs, so the
  // simulated kernel re-probes each device to the driver it has here.
  for (const d of devices) {
    const drv = drivers.find((x) => x.name === d.driver);
    if (drv && drv.name !== 'vfio-pci' && !drv.ids.some((id) => idMatches(id, d))) drv.ids.push({ vendor: d.vendor, device: d.device });
  }
  if (!loaded.includes('vfio-pci') && host.vfioState() === 'available') drivers.push({ name: 'vfio-pci', module: 'vfio_pci', state: 'available', ids: [] });
  // vfio-pci variant drivers not loaded: their vfio_pci aliases are what check chooses a variant from.
  const modules = new Set(drivers.map((d) => d.module ?? d.name.replace(/-/g, '_')));
  for (const [module, ids] of byModule) {
    if (!modules.has(module) && module !== 'vfio_pci' && ids.some((id) => id.overrideOnly)) drivers.push({ name: module, module, state: 'available', ids });
  }
  return drivers;
}

/**
 * The modules.alias entries (pci: and the override-only vfio_pci: of vfio-pci variants) that match a device
 * of this host, by module; vfio_pci's own match-all entry is left to materialize.ts, which writes it by release.
 */
function aliasTables(aliases: string, devices: DeviceDescription[]): Map<string, IdMatch[]> {
  const byModule = new Map<string, IdMatch[]>();
  for (const line of aliases.split('\n')) {
    const m = /^alias (pci|vfio_pci):(\S+) (\S+)$/.exec(line);
    if (!m || !/^[A-Za-z0-9_-]{1,64}$/.test(m[3]!)) continue;
    const parsed = parseAlias(m[2]!);
    if (!parsed || !devices.some((d) => idMatches(parsed, d))) continue;
    const id: IdMatch = m[1] === 'vfio_pci' ? { ...parsed, overrideOnly: true } : parsed;
    if (m[3] === 'vfio_pci' && id.overrideOnly && id.vendor === '*' && id.device === '*') continue;
    byModule.set(m[3]!, [...(byModule.get(m[3]!) ?? []), id]);
  }
  return byModule;
}

/** A driver's probe refusals, kept in the snapshot only when they are not the defaults for its name. */
function ownRefusals(d: DriverDescription): Pick<DriverDescription, 'probeRefusals'> {
  const own = d.probeRefusals;
  return own && JSON.stringify(own) !== JSON.stringify(defaultProbeRefusals(d.name)) ? { probeRefusals: own } : {};
}

/** modules.alias `v00008086d000010D3sv*sd*bc02sc00i*` → an IdMatch; undefined for shapes it cannot express. */
function parseAlias(alias: string): IdMatch | undefined {
  const m = /^v([0-9A-F]{8}|\*)d([0-9A-F]{8}|\*)sv([0-9A-F]{8}|\*)sd([0-9A-F]{8}|\*)bc([0-9A-F]{2}|\*)sc([0-9A-F]{2}|\*)i([0-9A-F]{2}|\*)\*?$/.exec(alias);
  if (!m) return undefined;
  const id = (s: string): string => (s === '*' ? '*' : s.slice(4).toLowerCase());
  const out: IdMatch = { vendor: id(m[1]!), device: id(m[2]!) };
  if (m[3] !== '*') out.subvendor = id(m[3]!);
  if (m[4] !== '*') out.subdevice = id(m[4]!);
  const parts = [m[5]!, m[6]!, m[7]!];
  if (parts.some((p) => p !== '*')) {
    out.class = parts.map((p) => (p === '*' ? '00' : p.toLowerCase())).join('');
    out.classMask = parts.map((p) => (p === '*' ? '00' : 'ff')).join('');
  }
  return out;
}

/** Writes a description file: atomically for a regular file or a new name, in place for a device or pipe (src/mock/write-output.ts). */
export function writeDescription(file: string, text: string): void {
  writeOutputFile(file, text);
}
