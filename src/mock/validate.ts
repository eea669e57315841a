import { InputError, printable } from '../errors.js';
import { parseInterfaceName } from '../pci/interface-name.js';
import { isDriverName } from '../pci/driver.js';
import { parseSysfsAddress } from '../pci/address.js';
import { HOST_FORMAT, NET_UPPER_KINDS, NON_PCI_BUSES, PROBE_REFUSAL_CASES, SHARED_FS_TAG, STACKED_KINDS, type HostDescription, type IdMatch } from './description.js';
import { NAME_PATTERN } from './snapshot-names.js';
import { heldEntry } from './snapshot-held.js';

/**
 * A host description comes from a file someone handed us (a snapshot from another machine, a bundled host,
 * a hand-written one). Materializing it builds paths from its addresses, driver names, interface and block
 * device names, so every one is checked here first, the way user XML is: nothing unchecked reaches a path.
 */
export function validateDescription(value: unknown, where: string): HostDescription {
  const c = checkers(where);
  const root = c.obj(value, 'the description');
  validateHeader(root, c);
  const driverNames = validateDrivers(root.drivers, c);
  const { ifaces, blocks } = validateDevices(root.devices, driverNames, where, c);
  if (root.osRelease !== undefined) c.str(root.osRelease, 'osRelease', /^[^\u0000]{0,4096}$/);
  validateStorage(root.storage, blocks, c);
  validateNonPci(root.nonPciDevices, c, c.driver, c.int);
  validateMountsAndRoutes(root, ifaces, blocks, where, c);
  validateHeld(root.held, root.devices as { address: string }[], c);
  return value as HostDescription;
}

const hex4 = /^[0-9a-f]{4}$/;
const blockName = /^[a-z][a-z0-9_.:-]{0,31}$/;

/** The checks every part uses: each fails with an InputError naming the description and the field. */
function checkers(where: string) {
  const fail = (what: string): never => {
    throw new InputError(`${where}: ${what}`, 'A host description has the format of mock-sysfs/hosts/*.json (see src/mock/description.ts).');
  };
  const obj = (v: unknown, what: string): Record<string, unknown> => {
    if (typeof v !== 'object' || v === null || Array.isArray(v)) fail(`${what} must be an object.`);
    return v as Record<string, unknown>;
  };
  const arr = (v: unknown, what: string): unknown[] => {
    if (!Array.isArray(v)) fail(`${what} must be a list.`);
    return v as unknown[];
  };
  const str = (v: unknown, what: string, re?: RegExp): string => {
    if (typeof v !== 'string') fail(`${what} must be a string.`);
    if (re && !re.test(v as string)) fail(`${what} '${printable(v as string, 40)}' is not valid.`);
    return v as string;
  };
  const bool = (v: unknown, what: string): boolean => {
    if (typeof v !== 'boolean') fail(`${what} must be true or false.`);
    return v as boolean;
  };
  const int = (v: unknown, what: string, max: number): number => {
    if (typeof v !== 'number' || !Number.isInteger(v) || v < 0 || v > max) fail(`${what} must be an integer from 0 to ${max}.`);
    return v as number;
  };
  const addr = (v: unknown, what: string): string => {
    const s = str(v, what);
    if (!parseSysfsAddress(s)) fail(`${what} '${printable(s, 40)}' is not a PCI address in the kernel's form DDDD:BB:SS.F (lowercase hex).`);
    return s;
  };
  const driver = (v: unknown, what: string): string => {
    const s = str(v, what);
    if (!isDriverName(s) || s === '.' || s === '..') fail(`${what} '${printable(s, 40)}' is not a valid driver name.`);
    return s;
  };
  return { fail, obj, arr, str, bool, int, addr, driver };
}
type AllCheckers = ReturnType<typeof checkers>;

/** format, name, summary and the kernel's facts. */
function validateHeader(root: Record<string, unknown>, { fail, obj, arr, str, bool, int }: AllCheckers): void {
  if (root.format !== HOST_FORMAT) fail(`format must be '${HOST_FORMAT}' (found '${printable(String(root.format), 40)}').`);
  str(root.name, 'name', /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/);
  str(root.summary, 'summary');
  const kernel = obj(root.kernel, 'kernel');
  str(kernel.release, 'kernel.release', /^[A-Za-z0-9._+-]{1,128}$/);
  if (kernel.release === '.' || kernel.release === '..') fail(`kernel.release is not valid.`);
  bool(kernel.driverOverride, 'kernel.driverOverride');
  bool(kernel.driversAutoprobe, 'kernel.driversAutoprobe');
  if (kernel.vfioDeviceCdev !== undefined) bool(kernel.vfioDeviceCdev, 'kernel.vfioDeviceCdev');
  if (kernel.cmdline !== undefined) str(kernel.cmdline, 'kernel.cmdline', /^[\x20-\x7e]{0,4096}$/);
  if (kernel.vfioNoiommu !== undefined) bool(kernel.vfioNoiommu, 'kernel.vfioNoiommu');
  if (kernel.noiommuGroups !== undefined) {
    arr(kernel.noiommuGroups, 'kernel.noiommuGroups').forEach((g, i) => int(g, `kernel.noiommuGroups[${i}]`, 0xffffff));
    if (kernel.vfioNoiommu !== true) fail('kernel.noiommuGroups needs kernel.vfioNoiommu: true (vfio makes them only in no-IOMMU mode).');
  }
}

/** The drivers list: valid names, each once, their ID tables and probe refusals; returns the names. */
function validateDrivers(value: unknown, { fail, obj, arr, str, bool, driver }: AllCheckers): Set<string> {
  const idMatch = (v: unknown, what: string): void => {
    const id = obj(v, what) as Partial<Record<keyof IdMatch, unknown>>;
    const anyOr = (x: unknown, w: string): void => {
      if (x !== '*') str(x, w, hex4);
    };
    anyOr(id.vendor, `${what}.vendor`);
    anyOr(id.device, `${what}.device`);
    if (id.subvendor !== undefined) anyOr(id.subvendor, `${what}.subvendor`);
    if (id.subdevice !== undefined) anyOr(id.subdevice, `${what}.subdevice`);
    if (id.class !== undefined) str(id.class, `${what}.class`, /^[0-9a-f]{6}$/);
    if (id.classMask !== undefined) str(id.classMask, `${what}.classMask`, /^[0-9a-f]{6}$/);
    if (id.overrideOnly !== undefined) bool(id.overrideOnly, `${what}.overrideOnly`);
  };
  const driverNames = new Set<string>();
  arr(value, 'drivers').forEach((d, i) => {
    const o = obj(d, `drivers[${i}]`);
    const name = driver(o.name, `drivers[${i}].name`);
    if (driverNames.has(name)) fail(`driver ${name} is listed twice.`);
    driverNames.add(name);
    if (o.module !== null) str(o.module, `drivers[${i}].module`, /^[A-Za-z0-9_-]{1,64}$/);
    if (o.state !== 'loaded' && o.state !== 'available' && o.state !== 'missing') fail(`drivers[${i}].state must be loaded, available or missing.`);
    arr(o.ids, `drivers[${i}].ids`).forEach((id, j) => idMatch(id, `drivers[${i}].ids[${j}]`));
    if (o.probeRefusals !== undefined) {
      arr(o.probeRefusals, `drivers[${i}].probeRefusals`).forEach((r, j) => {
        const ro = obj(r, `drivers[${i}].probeRefusals[${j}]`);
        const when = `drivers[${i}].probeRefusals[${j}].when`;
        if (!(PROBE_REFUSAL_CASES as readonly unknown[]).includes(ro.when)) fail(`${when} must be one of ${PROBE_REFUSAL_CASES.join(', ')}.`);
        str(ro.errno, `drivers[${i}].probeRefusals[${j}].errno`, /^E[A-Z0-9]{1,15}$/);
      });
    }
  });

  return driverNames;
}

/** The PCI functions, parents and PFs before their children, each interface and block device once. */
function validateDevices(value: unknown, driverNames: Set<string>, where: string, { fail, obj, arr, str, bool, int, addr, driver }: AllCheckers): { ifaces: Set<string>; blocks: Set<string> } {
  const seen = new Set<string>();
  const ifaces = new Set<string>();
  const blocks = new Set<string>();
  arr(value, 'devices').forEach((d, i) => {
    const o = obj(d, `devices[${i}]`);
    const a = addr(o.address, `devices[${i}].address`);
    const w = `device ${a}`;
    if (seen.has(a)) fail(`${w} is listed twice.`);
    if (o.parent !== null) {
      const p = addr(o.parent, `${w}: parent`);
      if (!seen.has(p)) fail(`${w}: its parent ${p} must be listed before it.`);
    }
    seen.add(a);
    for (const k of ['vendor', 'device', 'subsystemVendor', 'subsystemDevice'] as const) str(o[k], `${w}: ${k}`, hex4);
    str(o.class, `${w}: class`, /^[0-9a-f]{6}$/);
    int(o.headerType, `${w}: headerType`, 0x7f);
    if (o.multifunction !== undefined) bool(o.multifunction, `${w}: multifunction`);
    if (o.revision !== undefined) str(o.revision, `${w}: revision`, /^[0-9a-f]{2}$/);
    for (const k of ['vendorName', 'deviceName'] as const) if (o[k] !== undefined) str(o[k], `${w}: ${k} (one line of printable text, at most 200 characters)`, NAME_PATTERN);
    if (o.driver !== null) {
      const drv = driver(o.driver, `${w}: driver`);
      if (!driverNames.has(drv)) fail(`${w} is bound to ${drv}, which is not in the drivers list.`);
    }
    if (o.driverOverride !== null) driver(o.driverOverride, `${w}: driverOverride`);
    if (o.iommuGroup !== null) int(o.iommuGroup, `${w}: iommuGroup`, 0xffffff);
    if (o.bootVga !== undefined) bool(o.bootVga, `${w}: bootVga`);
    if (o.reset !== undefined) arr(o.reset, `${w}: reset`).forEach((m, j) => str(m, `${w}: reset[${j}]`, /^(flr|af_flr|pm|bus|cxl_bus|device_specific|acpi)$/));
    if (o.net !== undefined) {
      arr(o.net, `${w}: net`).forEach((n, j) => {
        const no = obj(n, `${w}: net[${j}]`);
        const name = parseInterfaceName(str(no.name, `${w}: net[${j}].name`), `${where}: ${w}: interface name`);
        if (ifaces.has(name)) fail(`interface ${name} is listed twice.`);
        ifaces.add(name);
        str(no.operstate, `${w}: net[${j}].operstate`, /^(up|down|unknown|dormant|lowerlayerdown|notpresent|testing)$/);
      });
    }
    if (o.block !== undefined) {
      arr(o.block, `${w}: block`).forEach((b, j) => {
        const bo = obj(b, `${w}: block[${j}]`);
        for (const n of [bo.name, ...(bo.partitions === undefined ? [] : arr(bo.partitions, `${w}: block[${j}].partitions`))]) {
          const name = str(n, `${w}: block device name`, blockName);
          if (blocks.has(name)) fail(`block device ${name} is listed twice.`);
          blocks.add(name);
        }
      });
    }
    if (o.sriov !== undefined) {
      const s = obj(o.sriov, `${w}: sriov`);
      const total = int(s.totalvfs, `${w}: sriov.totalvfs`, 0xffff);
      int(s.numvfs, `${w}: sriov.numvfs`, total);
      bool(s.driversAutoprobe, `${w}: sriov.driversAutoprobe`);
    }
    if (o.physfn !== undefined) {
      const pf = addr(o.physfn, `${w}: physfn`);
      if (!seen.has(pf)) fail(`${w}: its physical function ${pf} must be listed before it.`);
      int(o.vfIndex, `${w}: vfIndex`, 0xffff);
    }
    if (o.sharedFs !== undefined) {
      const sf = obj(o.sharedFs, `${w}: sharedFs`);
      if (sf.fstype !== '9p' && sf.fstype !== 'virtiofs') fail(`${w}: sharedFs.fstype must be 9p or virtiofs.`);
      str(sf.tag, `${w}: sharedFs.tag`, SHARED_FS_TAG);
    }
  });
  return { ifaces, blocks };
}

/** Mounts, swaps, upper network devices and routes, against the block devices and interfaces of the devices. */
function validateMountsAndRoutes(root: Record<string, unknown>, ifaces: Set<string>, blocks: Set<string>, where: string, c: AllCheckers): void {
  const { fail, obj, arr, str } = c;
  const mountsList = arr(root.mounts, 'mounts');
  mountsList.forEach((m, i) => {
    const o = obj(m, `mounts[${i}]`);
    const fstype = str(o.fstype, `mounts[${i}].fstype`, /^[a-z0-9_.]{1,32}$/);
    str(o.source, `mounts[${i}].source`, fstype === 'zfs' ? ZFS_DATASET : fstype === '9p' || fstype === 'virtiofs' ? SHARED_FS_TAG : /^\/dev\/[^\s]{1,200}$/);
    str(o.target, `mounts[${i}].target`, /^\/[^\s]{0,4000}$/);
    if (o.device !== undefined && !blocks.has(str(o.device, `mounts[${i}].device`, blockName))) fail(`mounts[${i}].device ${String(o.device)} is no block device of the description.`);
  });
  arr(root.swaps, 'swaps').forEach((s, i) => str(obj(s, `swaps[${i}]`).source, `swaps[${i}].source`, /^\/dev\/[^\s]{1,200}$/));
  validateNetUppers(root.netUppers, ifaces, where, c);
  const quad = /^(?:(?:25[0-5]|2[0-4][0-9]|1?[0-9]?[0-9])\.){3}(?:25[0-5]|2[0-4][0-9]|1?[0-9]?[0-9])$/;
  arr(root.routes, 'routes').forEach((r, i) => {
    const o = obj(r, `routes[${i}]`);
    const iface = parseInterfaceName(str(o.iface, `routes[${i}].iface`), `${where}: routes[${i}].iface`);
    if (!ifaces.has(iface)) fail(`routes[${i}] goes through ${iface}, which no device has.`);
    for (const k of ['destination', 'gateway', 'mask'] as const) str(o[k], `routes[${i}].${k}`, quad);
  });
  if (root.ipv6 !== undefined) {
    const v6 = obj(root.ipv6, 'ipv6');
    for (const k of ['addresses', 'defaultRoutes'] as const) {
      if (v6[k] === undefined) continue;
      arr(v6[k], `ipv6.${k}`).forEach((n, i) => {
        const iface = parseInterfaceName(str(n, `ipv6.${k}[${i}]`), `${where}: ipv6.${k}[${i}]`);
        if (!ifaces.has(iface)) fail(`ipv6.${k}[${i}] names ${iface}, which no device has.`);
      });
    }
  }
}

/** Non-PCI devices: names the driver core could give (never a PCI address), known buses, valid drivers, each once. */
function validateNonPci(value: unknown, c: Checkers, driver: (v: unknown, what: string) => string, int: (v: unknown, what: string, max: number) => number): void {
  if (value === undefined) return;
  const names = new Set<string>();
  c.arr(value, 'nonPciDevices').forEach((d, i) => {
    const o = c.obj(d, `nonPciDevices[${i}]`);
    const name = c.str(o.name, `nonPciDevices[${i}].name`, /^[A-Za-z0-9_][A-Za-z0-9_.:+@-]{0,63}$/);
    if (parseSysfsAddress(name)) c.fail(`nonPciDevices[${i}].name '${name}' is a PCI address: list it in devices.`);
    if (names.has(name)) c.fail(`non-PCI device ${name} is listed twice.`);
    names.add(name);
    if (!(NON_PCI_BUSES as readonly unknown[]).includes(o.bus)) c.fail(`nonPciDevices[${i}].bus must be one of ${NON_PCI_BUSES.join(', ')}.`);
    if (o.driver !== null) driver(o.driver, `nonPciDevices[${i}].driver`);
    if (o.iommuGroup !== null) int(o.iommuGroup, `nonPciDevices[${i}].iommuGroup`, 0xffffff);
  });
}

/** vfioctl's journal entries (src/mock/snapshot-held.ts heldEntry reads the same shape): devices of the description, each once. */
function validateHeld(value: unknown, devices: { address: string }[], c: AllCheckers): void {
  if (value === undefined) return;
  const known = new Set(devices.map((d) => d.address));
  const seen = new Set<string>();
  c.arr(value, 'held').forEach((h, i) => {
    const o = c.obj(h, `held[${i}]`);
    const a = c.addr(o.address, `held[${i}].address`);
    if (!known.has(a) || seen.has(a)) c.fail(`held[${i}]: ${a} is not a device of the description, or is listed twice.`);
    seen.add(a);
    const entry = heldEntry(a, o);
    if (entry === undefined) {
      return c.fail(`held[${i}] (${a}) is not a journal entry: it needs driver and override (a driver name or null), method (driver_override or new_id), vendor and device (4 lowercase hex digits), since and by (printable ASCII, at most 200 characters).`);
    }
    if (o.owner !== undefined && entry.owner === undefined) c.fail(`held[${i}].owner must have kind domain or network, a uuid and a name.`);
    if (o.interfaces !== undefined && entry.interfaces === undefined) c.fail(`held[${i}].interfaces must be a list of interface names.`);
    if (o.links !== undefined && entry.links === undefined) c.fail(`held[${i}].links must be a list of {"name": an interface name, "operstate": a lowercase word}.`);
  });
}

interface Checkers {
  obj: (v: unknown, what: string) => Record<string, unknown>;
  arr: (v: unknown, what: string) => unknown[];
  str: (v: unknown, what: string, re?: RegExp) => string;
  fail: (what: string) => never;
}

const ZFS_DATASET = /^[A-Za-z0-9][A-Za-z0-9_.:/-]{0,255}$/;
const MASTER_KINDS = new Set(['bridge', 'bond', 'team', 'openvswitch']);

/** Upper network devices: valid new names, known kinds, lowers listed before them, one master per port. */
function validateNetUppers(value: unknown, ifaces: Set<string>, where: string, c: Checkers): void {
  if (value === undefined) return;
  const mastered = new Set<string>();
  c.arr(value, 'netUppers').forEach((u, i) => {
    const o = c.obj(u, `netUppers[${i}]`);
    const name = parseInterfaceName(c.str(o.name, `netUppers[${i}].name`), `${where}: netUppers[${i}].name`);
    if (ifaces.has(name)) c.fail(`interface ${name} is listed twice.`);
    const kind = c.str(o.kind, `netUppers[${i}].kind`);
    if (!(NET_UPPER_KINDS as readonly string[]).includes(kind)) c.fail(`netUppers[${i}].kind must be one of ${NET_UPPER_KINDS.join(', ')}.`);
    c.str(o.operstate, `netUppers[${i}].operstate`, /^(up|down|unknown|dormant|lowerlayerdown|notpresent|testing)$/);
    const lowers = c.arr(o.lowers, `netUppers[${i}].lowers`).map((l, j) => c.str(l, `netUppers[${i}].lowers[${j}]`));
    if (lowers.length === 0 && kind !== 'bridge' && kind !== 'openvswitch') c.fail(`netUppers[${i}] (${name}) has no lower device.`);
    if (!MASTER_KINDS.has(kind) && lowers.length !== 1) c.fail(`netUppers[${i}] (${name}): a ${kind} has exactly one lower device.`);
    for (const l of lowers) {
      if (!ifaces.has(l)) c.fail(`netUppers[${i}] (${name}) stands on ${l}, which is not an interface listed before it.`);
      if (MASTER_KINDS.has(kind)) {
        if (mastered.has(l)) c.fail(`interface ${l} is a port of two masters.`);
        mastered.add(l);
      }
    }
    ifaces.add(name);
  });
}

/** Stacked block devices, ZFS pools, btrfs filesystems: names the kernel would give, on block devices already known. */
function validateStorage(value: unknown, blocks: Set<string>, c: Checkers): void {
  if (value === undefined) return;
  const o = c.obj(value, 'storage');
  const known = (name: string, what: string): void => {
    if (!blocks.has(name)) c.fail(`${what}: ${name} is no block device listed before it.`);
  };
  if (o.stacked !== undefined) {
    c.arr(o.stacked, 'storage.stacked').forEach((d, i) => {
      const so = c.obj(d, `storage.stacked[${i}]`);
      const kind = c.str(so.kind, `storage.stacked[${i}].kind`);
      if (!(STACKED_KINDS as readonly string[]).includes(kind)) c.fail(`storage.stacked[${i}].kind must be one of ${STACKED_KINDS.join(', ')}.`);
      const pattern = kind === 'md' ? /^md[0-9]{1,4}$/ : kind === 'bcache' ? /^bcache[0-9]{1,4}$/ : /^dm-[0-9]{1,4}$/;
      const name = c.str(so.name, `storage.stacked[${i}].name`, pattern);
      if (blocks.has(name)) c.fail(`block device ${name} is listed twice.`);
      if (pattern.source.startsWith('^dm')) c.str(so.dmName, `storage.stacked[${i}].dmName`, /^[A-Za-z0-9][A-Za-z0-9_.+-]{0,127}$/);
      const slaves = c.arr(so.slaves, `storage.stacked[${i}].slaves`).map((x, j) => c.str(x, `storage.stacked[${i}].slaves[${j}]`));
      if (slaves.length === 0) c.fail(`storage.stacked[${i}] (${name}) has no slaves.`);
      slaves.forEach((x) => known(x, `storage.stacked[${i}] (${name})`));
      blocks.add(name);
    });
  }
  if (o.zfsPools !== undefined) {
    c.arr(o.zfsPools, 'storage.zfsPools').forEach((p, i) => {
      const po = c.obj(p, `storage.zfsPools[${i}]`);
      c.str(po.pool, `storage.zfsPools[${i}].pool`, /^[A-Za-z][A-Za-z0-9_.:-]{0,63}$/);
      c.arr(po.members, `storage.zfsPools[${i}].members`).forEach((m, j) => known(c.str(m, `storage.zfsPools[${i}].members[${j}]`), `storage.zfsPools[${i}]`));
    });
  }
  if (o.btrfs !== undefined) {
    c.arr(o.btrfs, 'storage.btrfs').forEach((b, i) => {
      const devices = c.arr(c.obj(b, `storage.btrfs[${i}]`).devices, `storage.btrfs[${i}].devices`);
      if (devices.length === 0) c.fail(`storage.btrfs[${i}] has no devices.`);
      devices.forEach((d, j) => known(c.str(d, `storage.btrfs[${i}].devices[${j}]`), `storage.btrfs[${i}]`));
    });
  }
}
