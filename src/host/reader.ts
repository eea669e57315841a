import fs from 'node:fs';
import path from 'node:path';
import { HostTreeError, IommuError, NotFoundError, PermissionError, printable } from '../errors.js';
import { formatAddress, parseSysfsAddress, type PciAddress } from '../pci/address.js';
import { isBridgeClass, isVgaClass, type PciDevice } from '../pci/device.js';
import { HostLayout, isDriverName, type DriverName } from './layout.js';
import { listDir, readBytes, readLinkWithin, readOptional, realPathWithin } from './sysfs-read.js';

/**
 * Reads PCI devices and IOMMU groups from a host root. Reads only what it is asked for (group-info of one
 * device touches that group's members and nothing else) and caches each device, so a file is read once.
 */
export class HostReader {
  readonly layout: HostLayout;
  private readonly realRoot: string;
  private readonly devices = new Map<string, PciDevice | null>();

  constructor(root: string) {
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

  /** IOMMU group numbers in numeric order; empty when the IOMMU is off. */
  listGroups(): number[] {
    const names = listDir(this.layout.iommuGroupsDir) ?? [];
    return names
      .filter((n) => /^[0-9]{1,9}$/.test(n))
      .map(Number)
      .sort((a, b) => a - b);
  }

  iommuEnabled(): boolean {
    return this.listGroups().length > 0;
  }

  /** Addresses in a group, from sys/kernel/iommu_groups/N/devices, in address order. */
  groupMembers(group: number): PciAddress[] {
    const names = listDir(this.layout.groupDevicesDir(group));
    if (names === undefined) throw new NotFoundError(`IOMMU group ${group} does not exist on this host.`);
    const out: PciAddress[] = [];
    for (const n of names.sort()) {
      const a = parseSysfsAddress(n);
      if (!a) throw new HostTreeError(`sys/kernel/iommu_groups/${group}/devices holds '${printable(n)}', which is not a PCI address.`);
      out.push(a);
    }
    return out;
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
    const dev = this.readDevice(addr, name);
    this.devices.set(name, dev);
    return dev;
  }

  /** Forgets what was read (after writes, to see the kernel's new state). */
  invalidate(addr?: PciAddress): void {
    if (addr) this.devices.delete(formatAddress(addr));
    else this.devices.clear();
  }

  private readDevice(addr: PciAddress, name: string): PciDevice | null {
    const sysDevices = path.join(this.realRoot, 'sys', 'devices');
    const dir = this.deviceDir(name, sysDevices);
    if (dir === undefined) return null;
    const attr = (file: string): string | undefined => readOptional(path.join(dir, file))?.trim();
    // One read of config space gives vendor, device and subsystem IDs and the header type. The sysfs files
    // are read where config space cannot say: a VF reads 0xffff there (the kernel takes its IDs from the PF),
    // a bridge keeps its subsystem IDs elsewhere, and a tree without config files. The class always comes
    // from its file: kernel quirks may correct it.
    const config = readBytes(path.join(dir, 'config'), 0x30);
    const headerType = config && config.length > 0x0e ? config[0x0e]! & 0x7f : null;
    const fromConfig = config !== undefined && config.length >= 0x30 && config.readUInt16LE(0) !== 0xffff;
    const hex4 = (n: number): string => n.toString(16).padStart(4, '0');
    const vendor = fromConfig ? hex4(config.readUInt16LE(0)) : hexId(attr('vendor'), 4, name, 'vendor');
    const device = fromConfig ? hex4(config.readUInt16LE(2)) : hexId(attr('device'), 4, name, 'device');
    const cls = hexId(attr('class'), 6, name, 'class');
    const subsystemFromConfig = fromConfig && headerType === 0;
    const subsystemVendor = subsystemFromConfig ? hex4(config.readUInt16LE(0x2c)) : optionalHexId(attr('subsystem_vendor'), 4);
    const subsystemDevice = subsystemFromConfig ? hex4(config.readUInt16LE(0x2e)) : optionalHexId(attr('subsystem_device'), 4);
    const overrideText = attr('driver_override');
    const driverOverride =
      overrideText === undefined || overrideText === '(null)' || overrideText === '' ? null : driverNameOrFail(overrideText, name, 'driver_override');
    const driver = this.linkBasename(path.join(dir, 'driver'), path.join(this.realRoot, 'sys', 'bus', 'pci', 'drivers'), name);
    const groupTarget = this.linkBasename(path.join(dir, 'iommu_group'), path.join(this.realRoot, 'sys', 'kernel', 'iommu_groups'), name);
    let iommuGroup: number | null = null;
    if (groupTarget !== null) {
      if (!/^[0-9]{1,9}$/.test(groupTarget)) throw new HostTreeError(`The iommu_group link of ${name} names '${printable(groupTarget)}', not a group number.`);
      iommuGroup = Number(groupTarget);
    }
    // SR-IOV and network links, each read directly (no listing of the device directory: on a host with
    // 10,000 functions that listing was the largest cost of `list`).
    const physfn = this.linkedAddress(path.join(dir, 'physfn'), sysDevices);
    const numvfs = Number(attr('sriov_numvfs') ?? 0);
    const virtfns: PciAddress[] = [];
    for (let i = 0; Number.isInteger(numvfs) && i < numvfs && i < 0x10000; i++) {
      const a = this.linkedAddress(path.join(dir, `virtfn${i}`), sysDevices);
      if (a) virtfns.push(a);
    }
    virtfns.sort((a, b) => a.domain - b.domain || a.bus - b.bus || a.slot - b.slot || a.function - b.function);
    // Interfaces live in DEV/net/IF, or one level down for virtio (DEV/virtioN/net/IF).
    const netDirs = [path.join(dir, 'net')];
    if (vendor === '1af4') for (const e of listDir(dir) ?? []) if (/^virtio[0-9]+$/.test(e)) netDirs.push(path.join(dir, e, 'net'));
    const netInterfaces = netDirs
      .flatMap((d) => listDir(d) ?? [])
      .filter((n) => n.length > 0 && n.length < 16 && !n.includes('/'))
      .sort();
    return {
      address: addr,
      name,
      vendor,
      device,
      subsystemVendor,
      subsystemDevice,
      class: cls,
      headerType,
      isBridge: isBridgeClass(cls, headerType),
      driver: driver === null ? null : driverNameOrFail(driver, name, 'driver link'),
      driverOverride,
      overrideSupported: overrideText !== undefined,
      bootVga: isVgaClass(cls) && attr('boot_vga') === '1',
      iommuGroup,
      physfn,
      virtfns,
      netInterfaces,
    };
  }

  private readonly realParents = new Map<string, string>();

  /**
   * The device's real directory under sys/devices. The kernel's link is read and resolved lexically; its
   * parent directory is resolved with realpath once and cached (siblings share it: a PF and its VFs, a bus),
   * and the directory itself must be a directory, not a symlink. Same guarantee as a realpath per device
   * (nothing outside sys/devices), at two system calls instead of one per path component.
   */
  private deviceDir(name: string, sysDevices: string): string | undefined {
    const link = path.join(this.realRoot, 'sys', 'bus', 'pci', 'devices', name);
    let target: string;
    try {
      target = fs.readlinkSync(link);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'ENOENT' || code === 'ENOTDIR') return undefined;
      return realPathWithin(link, sysDevices); // not a link (a hand-made tree): resolve it the slow way
    }
    const lexical = path.isAbsolute(target) ? path.join(this.realRoot, target) : path.resolve(path.dirname(link), target);
    // Anything but the kernel's shape (a link into sys/devices) takes the slow path, which names the problem.
    if (!lexical.startsWith(sysDevices + path.sep)) return realPathWithin(link, sysDevices);
    const parentLexical = path.dirname(lexical);
    let parent = this.realParents.get(parentLexical);
    if (parent === undefined) {
      parent = realPathWithin(parentLexical, sysDevices);
      if (parent === undefined) return undefined;
      this.realParents.set(parentLexical, parent);
    }
    const dir = path.join(parent, path.basename(lexical));
    let st: fs.Stats;
    try {
      st = fs.lstatSync(dir);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'ENOENT' || code === 'ENOTDIR') return undefined;
      throw err;
    }
    if (!st.isDirectory()) return realPathWithin(dir, sysDevices);
    if (dir !== sysDevices && !dir.startsWith(sysDevices + path.sep)) {
      throw new HostTreeError(`${link} resolves to ${dir}, outside ${sysDevices}; the host tree is not trustworthy.`);
    }
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

function isDirectory(p: string): boolean {
  try {
    return fs.statSync(p).isDirectory();
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EACCES') throw new PermissionError(`Cannot read ${p}: permission denied.`);
    return false;
  }
}
