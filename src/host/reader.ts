import fs from 'node:fs';
import path from 'node:path';
import { HostTreeError, IommuError, isAbsent, NotFoundError, PermissionError, printable } from '../errors.js';
import { compareAddress, formatAddress, parseSysfsAddress, type PciAddress } from '../pci/address.js';
import { isBridgeFunction, isVgaClass, type PciDevice } from '../pci/device.js';
import { HostLayout } from './layout.js';
import { isDriverName, type DriverName } from '../pci/driver.js';
import { parsePciUevent } from '../pci/uevent.js';
import { interfacesByDevice, isInterfaceEntry, type FunctionInterfaces } from './net-index.js';
import { nonPciByGroup, readNonPciMember, type NonPciMember } from './non-pci.js';
import { exists, hasEntry, listDir, readBytes, readLinkWithin, readOptional, realPathWithin, resolveRelative } from './sysfs-read.js';

/** How a HostReader reads: see its constructor. */
export type ReaderMode = 'lookup' | 'scan';

/** Where a PCI function is (its real directory under sys/devices, checked) and what decides the rest of its reading. */
export interface DeviceLocation {
  addr: PciAddress;
  name: string;
  dir: string;
  group: number | null;
  /** The PF of a VF (its physfn link). */
  physfn: PciAddress | null;
  /** A PF's VFs, when a scan of every function found them by their physfn links; else read from its virtfnN links. */
  virtfns?: PciAddress[];
  /** The first 0x30 bytes of config space, when a scan read them already (null: it has none); undefined: not read. */
  config?: Buffer | null;
}

/** What readIds finds: the IDs, and the bound driver when uevent named it (null: uevent names none; undefined: no uevent). */
type ReadIds = Pick<PciDevice, 'vendor' | 'device' | 'subsystemVendor' | 'subsystemDevice' | 'class' | 'headerType'> & { driver: string | null | undefined };

/**
 * The result of HostReader.scan(): where every function is, its IOMMU group and its PF, by index in
 * address order. Locations are made one group at a time, as `list` prints them.
 */
export class FunctionScan {
  /** Function indices in group order, then address order; functions outside any group are left out. */
  private readonly order: number[];
  /** How many IOMMU groups have functions. */
  readonly groupCount: number;
  /** A PF's VFs, from their physfn links: every function was seen, so every VF (the same set as the PF's virtfnN links, which the kernel makes with physfn). */
  private readonly vfsOf = new Map<number, number[]>();

  constructor(
    private readonly addresses: PciAddress[],
    /** The kernel's names of the functions (formatAddress of each address): entries of sys/bus/pci/devices. */
    private readonly names: string[],
    private readonly dirs: (string | undefined)[],
    private readonly groupOf: Int32Array,
    private readonly physfnOf: Int32Array,
    /** Config space of the functions that are not VFs, read while walking the device tree. */
    private readonly configs: (Buffer | null | undefined)[],
  ) {
    this.order = [];
    for (let i = 0; i < addresses.length; i++) {
      if (dirs[i] !== undefined && groupOf[i]! >= 0) this.order.push(i);
      const pf = physfnOf[i]!;
      if (pf >= 0) {
        const vfs = this.vfsOf.get(pf);
        if (vfs) vfs.push(i);
        else this.vfsOf.set(pf, [i]);
      }
    }
    this.order.sort((x, y) => groupOf[x]! - groupOf[y]! || x - y);
    this.groupCount = this.order.filter((i, k) => k === 0 || groupOf[i] !== groupOf[this.order[k - 1]!]).length;
  }

  /** Whether a PCI function of the scan is in this group. */
  hasGroup(group: number): boolean {
    return this.order.some((i) => this.groupOf[i] === group);
  }

  /** The groups in numeric order, each with its members' locations in address order. */
  *groups(): Generator<{ group: number; members: DeviceLocation[] }> {
    for (let k = 0; k < this.order.length; ) {
      const group = this.groupOf[this.order[k]!]!;
      const members: DeviceLocation[] = [];
      for (; k < this.order.length && this.groupOf[this.order[k]!] === group; k++) members.push(this.location(this.order[k]!));
      yield { group, members };
    }
  }

  private location(i: number): DeviceLocation {
    const addr = this.addresses[i]!;
    const pf = this.physfnOf[i]!;
    return {
      addr,
      name: this.names[i]!,
      dir: this.dirs[i]!,
      group: this.groupOf[i]!,
      physfn: pf >= 0 ? this.addresses[pf]! : null,
      virtfns: (this.vfsOf.get(i) ?? []).map((v) => this.addresses[v]!),
      config: this.configs[i],
    };
  }
}

/**
 * Reads PCI devices and IOMMU groups from a host root. Reads only what it is asked for (group-info of one
 * device touches that group's members and nothing else) and caches each device, so a file is read once.
 */
export class HostReader {
  readonly layout: HostLayout;
  private readonly realRoot: string;
  /** realRoot/sys/devices: every device directory must be inside it. */
  private readonly sysDevices: string;
  /** realRoot/sys/bus/pci/devices: a link per PCI function. */
  private readonly busDevices: string;
  /** realRoot/sys/kernel/iommu_groups and realRoot/sys/bus/pci/drivers, where the iommu_group and driver links lead. */
  private readonly groupsDir: string;
  private readonly driversDir: string;
  private readonly devices = new Map<string, PciDevice | null>();
  /** An iommu_group link was read: the host has IOMMU groups. */
  private sawGroup = false;

  /**
   * 'lookup' (the default) reads what it is asked for and caches each device, for commands that read a
   * group or a few devices, maybe more than once. 'scan' is for one pass over every function (list): no
   * cache (thousands of cached devices make V8 grow its young generation: bench/results.md, History), and
   * the directories holding device directories are listed once instead of a stat per device.
   */
  constructor(
    root: string,
    private readonly mode: ReaderMode = 'lookup',
  ) {
    this.layout = new HostLayout(root);
    let st: fs.Stats;
    try {
      st = fs.statSync(this.layout.root);
      this.realRoot = fs.realpathSync.native(this.layout.root);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'EACCES') throw new PermissionError(`The host root ${this.layout.root} is not readable: permission denied.`);
      throw new HostTreeError(`The host root ${this.layout.root} cannot be read: ${code === 'ENOENT' ? 'it does not exist' : code}.`, 'Pass --root the directory that holds sys/ and proc/ (default /).');
    }
    if (!st.isDirectory()) throw new HostTreeError(`The host root ${this.layout.root} is not a directory.`);
    // path.join, once: with the root '/', a concatenation would give '//sys/...' (the real host's case).
    this.sysDevices = path.join(this.realRoot, 'sys', 'devices');
    this.busDevices = path.join(this.realRoot, 'sys', 'bus', 'pci', 'devices');
    this.groupsDir = path.join(this.realRoot, 'sys', 'kernel', 'iommu_groups');
    this.driversDir = path.join(this.realRoot, 'sys', 'bus', 'pci', 'drivers');
    // A stat, not a listing: group-info must not cost more on a host with 10,000 functions.
    if (!isDirectory(this.layout.pciDevicesDir)) {
      throw new HostTreeError(
        `${this.layout.pciDevicesDir} does not exist: ${this.layout.root} does not look like a Linux host root with sysfs.`,
        'Pass --root the directory that holds sys/ and proc/ (default /), or create a simulated host with `vfioctl mock create`.',
      );
    }
  }

  get root(): string {
    return this.layout.root;
  }

  /** Every PCI function on the host, in address order. */
  listAddresses(): PciAddress[] {
    const names = listDir(this.layout.pciDevicesDir) ?? [];
    const out: PciAddress[] = [];
    for (const n of names.sort()) {
      const a = parseSysfsAddress(n);
      if (a) out.push(a);
    }
    return out;
  }

  /**
   * Every function of the host, located in one pass, for `list`. A listing per IOMMU group would cost
   * about as many listings as functions (a host with 10,000 VFs has about as many groups); instead each
   * function's iommu_group link is read, and the functions are grouped by it. The kernel makes the link
   * and the group's devices/ entry together (iommu_group_add_device), so both give the same groups.
   *
   * Where each function is comes from a walk of the device tree instead of its link in sys/bus/pci/devices
   * (one read link fewer per function, of the five list makes): from each PCI root in sys/devices, the
   * directories of the functions on its bus, and from each bridge (header type 1 or 2 in config space,
   * which the kernel reads to decide that a function has a bus behind it: pci_scan_bridge), the functions
   * behind it. A VF's directory sits beside its PF's (the kernel gives it the PF's parent: pci_iov_add_virtfn).
   * The walk lists only real directories (no symlink is followed), so everything it finds is inside
   * sys/devices. A function it does not reach (a PCI root elsewhere: Hyper-V's VMBus, a VMD domain) is
   * located by its bus link, checked as a lookup checks it.
   */
  scan(): FunctionScan {
    // The entries of sys/bus/pci/devices are the kernel's names of the functions: used as they are, not
    // formatted again from the parsed address (20,000 formatAddress calls at 10,000 functions).
    const names: string[] = [];
    const addresses: PciAddress[] = [];
    for (const entry of (listDir(this.layout.pciDevicesDir) ?? []).sort()) {
      const a = parseSysfsAddress(entry);
      if (a === undefined) continue;
      names.push(entry);
      addresses.push(a);
    }
    const n = names.length;
    // Typed arrays and a string per function: objects that outlive the pass would make V8 grow its young
    // generation, and list's peak memory with it.
    const dirs: (string | undefined)[] = new Array<string | undefined>(n);
    const groups = new Int32Array(n).fill(-1);
    const physfns = new Int32Array(n).fill(-1);
    const configs: (Buffer | null | undefined)[] = new Array<Buffer | null | undefined>(n);
    const index = new Map<string, number>();
    for (let i = 0; i < n; i++) index.set(names[i]!, i);
    const locateAt = (i: number, dir: string): void => {
      dirs[i] = dir;
      const group = this.groupOf(dir, names[i]!);
      if (group !== null) groups[i] = group;
      const pf = this.physfnName(dir);
      if (pf !== null) physfns[i] = index.get(pf) ?? -1;
      // Config space tells a bridge; readAt needs it anyway (header type). A VF's is of no use (0xffff IDs).
      else configs[i] = readBytes(`${dir}/config`, 0x30) ?? null;
    };
    const parents = pciRoots(this.sysDevices);
    for (let p = 0; p < parents.length; p++) {
      const parent = parents[p]!;
      for (const entry of directoryEntries(parent)) {
        const i = index.get(entry.name);
        if (i === undefined || dirs[i] !== undefined || !entry.isDirectory()) continue;
        const dir = `${parent}/${entry.name}`;
        locateAt(i, dir);
        const headerType = headerTypeOf(configs[i] ?? undefined);
        if (headerType === 1 || headerType === 2) parents.push(dir);
      }
    }
    for (let i = 0; i < n; i++) {
      if (dirs[i] !== undefined) continue;
      const dir = this.deviceDir(names[i]!);
      if (dir !== undefined) locateAt(i, dir); // else gone meanwhile
    }
    return new FunctionScan(addresses, names, dirs, groups, physfns, configs);
  }

  /** IOMMU group numbers in numeric order; empty when the IOMMU is off. */
  listGroups(): number[] {
    const names = listDir(this.layout.iommuGroupsDir) ?? [];
    return names
      .filter((n) => /^[0-9]{1,9}$/.test(n))
      .map(Number)
      .sort((a, b) => a - b);
  }

  /**
   * Whether the host has any IOMMU group. A device read so far with an iommu_group link answers it (the kernel
   * makes the link when it adds the device to a group), else the first entry of sys/kernel/iommu_groups: a host
   * with 10,000 groups is not listed and sorted for one yes (group-info asks on every call, bench/results.md).
   */
  iommuEnabled(): boolean {
    return this.sawGroup || hasEntry(this.layout.iommuGroupsDir, (n) => /^[0-9]{1,9}$/.test(n));
  }

  /**
   * Addresses in a group, from sys/kernel/iommu_groups/N/devices, in address order. The kernel makes a
   * device's iommu_group link and its entry in its group's devices/ together (iommu_group_add_device), so
   * where they disagree the tree is broken, and no verdict on the group would be the kernel's: in lookup
   * mode each member's link must name this group, and each device read so far whose link names it must be
   * listed (HostTreeError naming both). The members are read through the cache, which their callers read next.
   */
  groupMembers(group: number): PciAddress[] {
    const names = listDir(this.layout.groupDevicesDir(group));
    if (names === undefined) throw new NotFoundError(`IOMMU group ${group} does not exist on this host.`);
    const out: PciAddress[] = [];
    const others: string[] = [];
    for (const n of names.sort()) {
      const a = parseSysfsAddress(n);
      if (a) out.push(a);
      else others.push(n);
    }
    this.nonPciNames.set(group, others);
    if (this.mode === 'lookup') this.checkGroupLinks(group, out);
    return out;
  }

  /** Names of a group's devices/ entries that are not PCI addresses, from groupMembers' listing. */
  private readonly nonPciNames = new Map<number, string[]>();

  /**
   * The group's members that are not PCI functions (src/host/non-pci.ts), each with its bus and driver; an
   * entry that is neither a PCI address nor a link to a device is a HostTreeError. Reuses groupMembers' listing.
   */
  groupNonPci(group: number): NonPciMember[] {
    if (!this.nonPciNames.has(group)) this.groupMembers(group);
    const dir = `${this.groupsDir}/${group}/devices`;
    return (this.nonPciNames.get(group) ?? []).map((n) => readNonPciMember(`${dir}/${n}`, n, this.realRoot));
  }

  /** For a scan: the non-PCI devices behind the host's IOMMUs, by group (src/host/non-pci.ts). */
  nonPciByGroup(): Map<number, NonPciMember[]> {
    return nonPciByGroup(this.realRoot, (n) => parseSysfsAddress(n) !== undefined);
  }

  private checkGroupLinks(group: number, members: PciAddress[]): void {
    const listed = new Set<string>();
    for (const a of members) {
      const dev = this.tryDevice(a);
      if (dev === null) continue; // gone meanwhile: the caller says so
      listed.add(dev.name);
      if (dev.iommuGroup !== group) {
        const link = dev.iommuGroup === null ? 'it has no iommu_group link' : `its iommu_group link names group ${dev.iommuGroup}`;
        throw inconsistentGroups(`sys/kernel/iommu_groups/${group}/devices lists ${dev.name}, but ${link}`);
      }
    }
    for (const [name, dev] of this.devices) {
      if (dev === null || dev.iommuGroup !== group || listed.has(name)) continue;
      const elsewhere = this.listGroups().find((g) => g !== group && exists(`${this.layout.groupDevicesDir(g)}/${name}`));
      const where = elsewhere === undefined ? 'no group lists it' : `sys/kernel/iommu_groups/${elsewhere}/devices lists it`;
      throw inconsistentGroups(`the iommu_group link of ${name} names group ${group}, but sys/kernel/iommu_groups/${group}/devices does not list it (${where})`);
    }
  }

  exists(addr: PciAddress): boolean {
    return this.tryDevice(addr) !== null;
  }

  /** The device, or a NotFoundError naming the address. */
  device(addr: PciAddress): PciDevice {
    const dev = this.tryDevice(addr);
    if (!dev) {
      throw new NotFoundError(
        `No PCI device ${formatAddress(addr)} on this host (${this.layout.pciDevicesDir}).`,
        '`vfioctl list` shows the devices there are.',
      );
    }
    return dev;
  }

  /** The device's IOMMU group, with IommuError when there is none. */
  requireGroup(dev: PciDevice): number {
    if (dev.iommuGroup !== null) return dev.iommuGroup;
    if (!this.iommuEnabled()) throw iommuOffError();
    throw new IommuError(
      `${dev.name} is not in any IOMMU group, although the host has groups: the IOMMU does not cover it, so VFIO cannot use it.`,
      'Check the kernel log (dmesg | grep -i -e DMAR -e IOMMU) for why the device was left out.',
    );
  }

  tryDevice(addr: PciAddress): PciDevice | null {
    const name = formatAddress(addr);
    const cached = this.devices.get(name);
    if (cached !== undefined) return cached;
    const loc = this.locate(addr);
    const dev = loc === null ? null : this.readAt(loc);
    if (this.mode === 'lookup') this.devices.set(name, dev);
    return dev;
  }

  /** Forgets what was read (after writes, to see the kernel's new state). */
  invalidate(addr?: PciAddress): void {
    if (addr) this.devices.delete(formatAddress(addr));
    else this.devices.clear();
  }

  /** The function's directory and IOMMU group; null when there is no such function. */
  locate(addr: PciAddress): DeviceLocation | null {
    const name = formatAddress(addr);
    const dir = this.deviceDir(name);
    if (dir === undefined) return null;
    // Whether it is a VF decides what else there is to read (a VF has no VFs, and its config space is no use).
    const pf = this.physfnName(dir);
    return { addr, name, dir, group: this.groupOf(dir, name), physfn: pf === null ? null : (parseSysfsAddress(pf) ?? null) };
  }

  /** The function's IOMMU group, from its iommu_group link; null when it has none. */
  private groupOf(dir: string, name: string): number | null {
    const groupTarget = this.linkBasename(`${dir}/iommu_group`, this.groupsDir, name);
    if (groupTarget === null) return null;
    if (!/^[0-9]{1,9}$/.test(groupTarget)) {
      throw new HostTreeError(`The iommu_group link of ${name} names '${printable(groupTarget)}', not a group number.`);
    }
    this.sawGroup = true;
    return Number(groupTarget);
  }

  /** The name of a VF's PF (its physfn link's last component, inside sys/devices); null for any other function. */
  private physfnName(dir: string): string | null {
    const target = readLinkWithin(`${dir}/physfn`, this.realRoot, this.sysDevices);
    return target === undefined ? null : target.slice(target.lastIndexOf('/') + 1);
  }

  /** Reads a function found by `locate` (each file once; nothing is cached here). */
  readAt(loc: DeviceLocation): PciDevice {
    const { addr, name, dir, group: iommuGroup, physfn } = loc;
    // Plain concatenation, not path.join: `dir` is already normalized and the file names are ours.
    // The object is built field by field, without spreads: this runs for each of 10,000 functions in `list`.
    const ids = this.readIds(dir, name, physfn !== null, loc.config);
    const overrideText = readOptional(`${dir}/driver_override`)?.trim();
    const driverOverride =
      overrideText === undefined || overrideText === '(null)' || overrideText === '' ? null : driverNameOrFail(overrideText, name, 'driver_override');
    // The driver core's DRIVER= line names the bound driver, as the driver link does. Where uevent names none
    // (or there is no uevent), the link says: on a real host the two agree (the kernel makes uevent when it is
    // read), but a simulated host stores uevent, and its kernel (src/mock/kernel/sim-tree.ts) orders a bind's
    // and an unbind's steps so that a run killed between them leaves uevent without DRIVER= beside the link,
    // never the other way round. So a bound function costs no more than one read, and an unbound one (rare on
    // a host) one more readlink.
    const resetText = readOptional(`${dir}/reset_method`);
    const fromUevent = typeof ids.driver === 'string';
    const driver = fromUevent ? ids.driver! : this.linkBasename(`${dir}/driver`, this.driversDir, name);
    return {
      address: addr,
      name,
      vendor: ids.vendor,
      device: ids.device,
      subsystemVendor: ids.subsystemVendor,
      subsystemDevice: ids.subsystemDevice,
      class: ids.class,
      headerType: ids.headerType,
      isBridge: isBridgeFunction(ids.class, ids.headerType),
      driver: driver === null ? null : driverNameOrFail(driver, name, fromUevent ? 'uevent DRIVER= line' : 'driver link'),
      driverOverride,
      overrideSupported: overrideText !== undefined,
      bootVga: isVgaClass(ids.class) && readOptional(`${dir}/boot_vga`)?.trim() === '1',
      iommuGroup,
      physfn,
      virtfns: this.virtfnsOf(loc),
      netInterfaces: this.interfacesOf(dir, ids.vendor === '1af4'),
      // reset_method and reset exist together on kernels >= 5.15; `reset` is looked at only without the first.
      resetMethod: resetText ?? null,
      resetFile: resetText !== undefined || exists(`${dir}/reset`),
    };
  }

  /**
   * A PF's VFs in address order. A scan knows them already, from the VFs' physfn links; a lookup reads the
   * virtfnN links, each directly (a listing of the device directory was the largest cost of `list` on a
   * host with 10,000 functions). A VF cannot have VFs of its own (SR-IOV 1.1, 2.1).
   */
  private virtfnsOf(loc: DeviceLocation): PciAddress[] {
    if (loc.virtfns) return [...loc.virtfns];
    const virtfns: PciAddress[] = [];
    if (loc.physfn !== null) return virtfns;
    const numvfs = Number(readOptional(`${loc.dir}/sriov_numvfs`)?.trim() ?? 0);
    for (let i = 0; Number.isInteger(numvfs) && i < numvfs && i < 0x10000; i++) {
      const a = this.linkedAddress(`${loc.dir}/virtfn${i}`, this.sysDevices);
      if (a) virtfns.push(a);
    }
    return virtfns.sort(compareAddress);
  }

  /** Interfaces of the scan's host, by device directory (see net-index.ts); null: look in each directory. */
  private netIndex: Map<string, FunctionInterfaces> | null | undefined;

  /**
   * The function's network interfaces: in DEV/net/IF, or one level down for virtio (DEV/virtioN/net/IF).
   * A scan asks sys/class/net once for the whole host; a lookup looks in the device's directory, with a
   * stat that answers "no" without an exception (most functions have no interface).
   */
  private interfacesOf(dir: string, virtio: boolean): string[] {
    if (this.mode === 'scan' && this.netIndex === undefined) {
      this.netIndex = interfacesByDevice(path.join(this.realRoot, 'sys', 'class', 'net'), this.realRoot, this.sysDevices) ?? null;
    }
    if (this.netIndex) {
      const found = this.netIndex.get(dir);
      if (found === undefined) return [];
      return (virtio ? [...found.direct, ...found.virtio] : [...found.direct]).sort();
    }
    const netDirs = [`${dir}/net`];
    if (virtio) for (const e of listDir(dir) ?? []) if (/^virtio[0-9]+$/.test(e)) netDirs.push(`${dir}/${e}/net`);
    return netDirs
      .flatMap((d) => (exists(d) ? (listDir(d) ?? []) : []))
      .filter(isInterfaceEntry)
      .sort();
  }

  /**
   * Vendor, device and subsystem IDs, class and header type, in as few reads as the device allows:
   * - the kernel's values come from `uevent` (one read; see src/pci/uevent.ts), and the header type from
   *   config space, except for a VF: its header type is 0 (SR-IOV 1.1, 3.4.1.8), its config space of no use;
   * - a tree without `uevent` (hand-made, or from an older vfioctl): IDs from config space, where it gives
   *   them, else from the vendor, device, subsystem_vendor and subsystem_device files; the class from its
   *   file, which has the kernel's quirks applied.
   */
  private readIds(dir: string, name: string, isVf: boolean, configRead: Buffer | null | undefined): ReadIds {
    const uevent = readOptional(`${dir}/uevent`);
    const u = uevent === undefined ? undefined : parsePciUevent(uevent);
    if (u !== undefined && isVf) {
      return { vendor: u.vendor, device: u.device, subsystemVendor: u.subsystemVendor, subsystemDevice: u.subsystemDevice, class: u.class, headerType: 0, driver: u.driver };
    }
    const config = configRead === undefined ? readBytes(`${dir}/config`, 0x30) : (configRead ?? undefined);
    const headerType = headerTypeOf(config) ?? (isVf ? 0 : null);
    if (u !== undefined) {
      return { vendor: u.vendor, device: u.device, subsystemVendor: u.subsystemVendor, subsystemDevice: u.subsystemDevice, class: u.class, headerType, driver: u.driver };
    }
    const attr = (file: string): string | undefined => readOptional(`${dir}/${file}`)?.trim();
    const fromConfig = config !== undefined && config.length >= 0x30 && config.readUInt16LE(0) !== 0xffff;
    const hex4 = (n: number): string => n.toString(16).padStart(4, '0');
    const subsystemFromConfig = fromConfig && headerType === 0;
    return {
      vendor: fromConfig ? hex4(config.readUInt16LE(0)) : hexId(attr('vendor'), 4, name, 'vendor'),
      device: fromConfig ? hex4(config.readUInt16LE(2)) : hexId(attr('device'), 4, name, 'device'),
      subsystemVendor: subsystemFromConfig ? hex4(config.readUInt16LE(0x2c)) : optionalHexId(attr('subsystem_vendor'), 4),
      subsystemDevice: subsystemFromConfig ? hex4(config.readUInt16LE(0x2e)) : optionalHexId(attr('subsystem_device'), 4),
      class: hexId(attr('class'), 6, name, 'class'),
      headerType,
      driver: undefined,
    };
  }

  /** Real paths of device parents, by the text of a bus link before its last '/'; in scan mode, with their subdirectories. */
  private readonly realParents = new Map<string, { dir: string; subdirs: Set<string> | undefined }>();

  /**
   * The device's real directory under sys/devices. The kernel's link is read and resolved lexically; its
   * parent directory is resolved with realpath once and cached (siblings share it: a PF and its VFs, a bus),
   * and the directory itself must be a directory, not a symlink: a stat per device, or in scan mode one
   * listing per parent. Same guarantee as a realpath per device (nothing outside sys/devices), at two system
   * calls instead of one per path component.
   */
  private deviceDir(name: string): string | undefined {
    const sysDevices = this.sysDevices;
    const link = `${this.busDevices}/${name}`;
    let target: string;
    try {
      target = fs.readlinkSync(link);
    } catch (err) {
      if (isAbsent(err)) return undefined;
      return realPathWithin(link, sysDevices); // not a link (a hand-made tree): resolve it the slow way
    }
    // Links are all read from one directory, so the text before the last '/' decides the parent: resolved
    // and checked once per parent, not once per function.
    const cut = target.lastIndexOf('/');
    const base = target.slice(cut + 1);
    if (cut < 0 || base === '' || base === '.' || base === '..') return realPathWithin(link, sysDevices);
    const key = target.slice(0, cut);
    let parent = this.realParents.get(key);
    if (parent === undefined) {
      const parentLexical = key.startsWith('/') ? path.join(this.realRoot, key) : resolveRelative(this.busDevices, key);
      // Anything but the kernel's shape (a link into sys/devices) takes the slow path, which names the problem.
      if (!parentLexical.startsWith(sysDevices + '/') && parentLexical !== sysDevices) return realPathWithin(link, sysDevices);
      const real = realPathWithin(parentLexical, sysDevices);
      if (real === undefined) return undefined;
      parent = { dir: real, subdirs: this.mode === 'scan' ? subdirectories(real) : undefined };
      this.realParents.set(key, parent);
    }
    const dir = `${parent.dir}/${base}`;
    if (parent.subdirs?.has(base)) return dir;
    let st: fs.Stats;
    try {
      st = fs.lstatSync(dir);
    } catch (err) {
      if (isAbsent(err)) return undefined;
      throw err;
    }
    if (!st.isDirectory()) return realPathWithin(dir, sysDevices);
    return dir;
  }

  private linkBasename(link: string, within: string, devName: string): string | null {
    const target = readLinkWithin(link, this.realRoot, within);
    if (target === undefined) return null;
    const base = path.basename(target);
    if (!base) throw new HostTreeError(`The ${path.basename(link)} link of ${devName} is empty.`);
    return base;
  }

  private linkedAddress(link: string, within: string): PciAddress | null {
    const target = readLinkWithin(link, this.realRoot, within);
    if (target === undefined) return null;
    return parseSysfsAddress(path.basename(target)) ?? null;
  }

  /** Which PCI device a network interface belongs to (sys/class/net/IF/device); null when virtual. */
  interfaceDevice(ifname: string): PciAddress | null | undefined {
    const ifLink = path.join(this.layout.classNetDir, ifname);
    if (!fs.existsSync(ifLink)) return undefined;
    // sys/class/net/IF is a link into the device tree; the kernel's relative `device` link is meant from there.
    const real = realPathWithin(ifLink, path.join(this.realRoot, 'sys'));
    if (!real) return null;
    const target = readLinkWithin(path.join(real, 'device'), this.realRoot, path.join(this.realRoot, 'sys', 'devices'));
    if (target === undefined) {
      // No device link: look for .../ADDR/net/IF in the path itself.
      return parseSysfsAddress(path.basename(path.dirname(path.dirname(real)))) ?? null;
    }
    // The device link names the PCI function, or a child of it (virtio0 for virtio-net): take the nearest PCI directory.
    for (let p = target; p.startsWith(path.join(this.realRoot, 'sys', 'devices')); p = path.dirname(p)) {
      const a = parseSysfsAddress(path.basename(p));
      if (a) return a;
    }
    return null;
  }

  interfaceOperstate(ifname: string): string | undefined {
    return readOptional(path.join(this.layout.classNetDir, ifname, 'operstate'))?.trim();
  }

  /** Whether a PCI driver is registered (sys/bus/pci/drivers/NAME exists). */
  /**
   * A small text attribute of a function's own directory (modalias, reset_method ...), read through its checked
   * directory; undefined when the function or the file does not exist.
   */
  deviceText(addr: PciAddress, file: string): string | undefined {
    if (!/^[a-z_]{1,32}$/.test(file)) throw new Error(`internal: not a device attribute name: ${file}`);
    const dir = this.deviceDir(formatAddress(addr));
    return dir === undefined ? undefined : readOptional(`${dir}/${file}`);
  }

  /** Whether a function's directory has this entry (a write-only attribute such as `reset`: never read), or this path below it (vfio-dev/vfio0/dev). */
  deviceHas(addr: PciAddress, entry: string): boolean {
    if (!/^[a-z0-9_-]{1,32}(\/[a-z0-9_-]{1,32}){0,2}$/.test(entry)) throw new Error(`internal: not a device entry name: ${entry}`);
    const dir = this.deviceDir(formatAddress(addr));
    return dir !== undefined && exists(`${dir}/${entry}`);
  }

  /** The entries of a subdirectory of a function's directory (vfio-dev ...); undefined when absent. */
  deviceSubdir(addr: PciAddress, sub: string): string[] | undefined {
    if (!/^[a-z_-]{1,32}$/.test(sub)) throw new Error(`internal: not a device subdirectory name: ${sub}`);
    const dir = this.deviceDir(formatAddress(addr));
    return dir === undefined ? undefined : listDir(`${dir}/${sub}`);
  }

  driverLoaded(name: DriverName): boolean {
    return listDir(this.layout.driverDir(name)) !== undefined;
  }
}

export function iommuOffError(): IommuError {
  return new IommuError(
    'The IOMMU is off on this host: sys/kernel/iommu_groups is empty, so no device can be assigned with VFIO.',
    'Turn on VT-d (Intel) or AMD-Vi/IOMMU (AMD) in the firmware setup, and add intel_iommu=on (Intel) or amd_iommu=on (AMD) to the kernel command line, then reboot.',
  );
}

function inconsistentGroups(what: string): HostTreeError {
  return new HostTreeError(
    `The host tree is inconsistent: ${what}. The kernel keeps the two in step, so the tree was changed by hand or is damaged.`,
    'The kernel never leaves them apart: check what changed sys/kernel/iommu_groups or the device (a simulated host: create it again with `vfioctl mock create`).',
  );
}

function hexId(text: string | undefined, digits: number, dev: string, file: string): string {
  if (text === undefined) throw new HostTreeError(`${dev} has no ${file} file; the host tree is incomplete.`);
  const id = optionalHexId(text, digits);
  if (id === null) throw new HostTreeError(`${dev}/${file} holds '${printable(text, 40)}', not a ${digits}-digit hex ID like 0x${'0'.repeat(digits)}.`);
  return id;
}

function optionalHexId(text: string | undefined, digits: number): string | null {
  if (text === undefined) return null;
  const m = /^0x([0-9a-fA-F]+)$/.exec(text);
  if (!m || m[1]!.length !== digits) return null;
  return m[1]!.toLowerCase();
}

function driverNameOrFail(text: string, dev: string, what: string): DriverName {
  if (!isDriverName(text)) throw new HostTreeError(`The ${what} of ${dev} names '${printable(text, 40)}', which is not a valid driver name.`);
  return text as DriverName;
}

/**
 * The names of the real directories (not links) in a directory; empty when it cannot be listed (every
 * device below is then checked with a stat instead, which names any problem).
 */
function subdirectories(dir: string): Set<string> {
  const out = new Set<string>();
  for (const e of directoryEntries(dir)) if (e.isDirectory()) out.add(e.name);
  return out;
}

/** Config space's header type (offset 0x0e) without the multifunction bit; null when config is too short or missing. */
function headerTypeOf(config: Buffer | undefined): number | null {
  return config !== undefined && config.length > 0x0e ? config[0x0e]! & 0x7f : null;
}

/** The PCI roots (host bridges) in sys/devices: pciDDDD:BB directories. */
function pciRoots(sysDevices: string): string[] {
  const out: string[] = [];
  for (const e of directoryEntries(sysDevices)) if (e.isDirectory() && /^pci[0-9a-f]{4,8}:[0-9a-f]{2}$/.test(e.name)) out.push(`${sysDevices}/${e.name}`);
  return out.sort();
}

/**
 * A directory's entries with their types (d_type, or lstat where the filesystem gives none: no link is
 * followed); none when it cannot be listed: what is below it is then found another way, which names any problem.
 */
function directoryEntries(dir: string): fs.Dirent[] {
  try {
    return fs.readdirSync(dir, { withFileTypes: true });
  } catch {
    return [];
  }
}

function isDirectory(p: string): boolean {
  try {
    return fs.statSync(p).isDirectory();
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EACCES') throw new PermissionError(`Cannot read ${p}: permission denied.`);
    return false;
  }
}
