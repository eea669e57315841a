import path from 'node:path';
import { HostTreeError, InputError, printable } from '../errors.js';
import { formatAddress, type PciAddress } from '../pci/address.js';
import type { DriverName } from '../pci/driver.js';
import type { InterfaceName } from '../pci/interface-name.js';

/** Files of a device directory the tool reads. */
export type DeviceAttribute =
  | 'vendor'
  | 'device'
  | 'subsystem_vendor'
  | 'subsystem_device'
  | 'class'
  | 'config'
  | 'driver_override'
  | 'boot_vga'
  | 'sriov_totalvfs'
  | 'sriov_numvfs';

/** One write to sysfs, as data. `hostPath` is the path on the host (`/sys/...`), whatever the root. */
export interface SysfsWrite {
  hostPath: string;
  value: string;
}

/** A write as vfioctl reports it: the `writes` of the JSON output, a dry run, the simulated kernel's log. */
export interface HostWrite {
  path: string;
  value: string;
}

export function toHostWrite(w: SysfsWrite): HostWrite {
  return { path: w.hostPath, value: w.value };
}

/**
 * The one module that knows where things live under a host root (the real `/`, a materialized simulated
 * host, or any tree with the kernel's layout). Every path the tool reads or writes is built here, and only
 * from validated values: a PciAddress, an InterfaceName, a DriverName, a group number.
 */
export class HostLayout {
  /** Absolute, normalized host root. */
  readonly root: string;
  constructor(root: string) {
    this.root = path.resolve(root);
  }

  /** Maps a host path (`/sys/...`) to a path under this root. */
  onHost(hostPath: string): string {
    return path.join(this.root, hostPath);
  }

  // --- reading -------------------------------------------------------------------------------------
  get sysDir(): string {
    return this.onHost('/sys');
  }
  get pciDevicesDir(): string {
    return this.onHost('/sys/bus/pci/devices');
  }
  get pciDriversDir(): string {
    return this.onHost('/sys/bus/pci/drivers');
  }
  get iommuGroupsDir(): string {
    return this.onHost('/sys/kernel/iommu_groups');
  }
  get classNetDir(): string {
    return this.onHost('/sys/class/net');
  }
  get classBlockDir(): string {
    return this.onHost('/sys/class/block');
  }
  get procMounts(): string {
    return this.onHost('/proc/mounts');
  }
  get procSwaps(): string {
    return this.onHost('/proc/swaps');
  }
  get procRoute(): string {
    return this.onHost('/proc/net/route');
  }
  get procIpv6Route(): string {
    return this.onHost('/proc/net/ipv6_route');
  }
  get procIfInet6(): string {
    return this.onHost('/proc/net/if_inet6');
  }
  get osRelease(): string {
    return this.onHost('/proc/sys/kernel/osrelease');
  }
  modulesDir(release: string): string {
    if (!/^[A-Za-z0-9._+-]{1,128}$/.test(release) || release === '.' || release === '..') {
      throw new HostTreeError(`The kernel release '${printable(release)}' read from proc/sys/kernel/osrelease is not valid.`);
    }
    return this.onHost(`/lib/modules/${release}`);
  }
  /** Where vfioctl keeps its journal and lock. */
  get stateDir(): string {
    return this.onHost('/run/vfioctl');
  }

  device(addr: PciAddress): string {
    return path.join(this.pciDevicesDir, formatAddress(addr));
  }
  deviceAttribute(addr: PciAddress, attr: DeviceAttribute): string {
    return path.join(this.device(addr), attr);
  }
  deviceDriverLink(addr: PciAddress): string {
    return path.join(this.device(addr), 'driver');
  }
  deviceGroupLink(addr: PciAddress): string {
    return path.join(this.device(addr), 'iommu_group');
  }
  deviceNetDir(addr: PciAddress): string {
    return path.join(this.device(addr), 'net');
  }
  devicePhysfnLink(addr: PciAddress): string {
    return path.join(this.device(addr), 'physfn');
  }
  deviceVirtfnLink(addr: PciAddress, index: number): string {
    return path.join(this.device(addr), `virtfn${checkIndex(index)}`);
  }
  groupDevicesDir(group: number): string {
    return path.join(this.iommuGroupsDir, String(checkIndex(group)), 'devices');
  }
  driverDir(name: DriverName): string {
    return path.join(this.pciDriversDir, name);
  }
  netInterface(name: InterfaceName): string {
    return path.join(this.classNetDir, name);
  }
  netInterfaceDevice(name: InterfaceName): string {
    return path.join(this.classNetDir, name, 'device');
  }
  netInterfaceOperstate(name: InterfaceName): string {
    return path.join(this.deviceNetDirFor(name), 'operstate');
  }
  private deviceNetDirFor(name: InterfaceName): string {
    return path.join(this.classNetDir, name);
  }

  // --- writing: the whitelist ------------------------------------------------------------------------
  // Every write the tool may ever perform is built by one of these. The kernel modules accept nothing else
  // (see isWhitelistedWrite).
  writeDriverOverride(addr: PciAddress, driver: DriverName | null): SysfsWrite {
    // "\n" clears the override; a zero-length write would silently change nothing (docs/sysfs-semantics.md, the errno table).
    return { hostPath: `/sys/bus/pci/devices/${formatAddress(addr)}/driver_override`, value: driver === null ? '\n' : driver };
  }
  writeDriverControl(driver: DriverName, control: 'bind' | 'unbind', addr: PciAddress): SysfsWrite {
    return { hostPath: `/sys/bus/pci/drivers/${driver}/${control}`, value: formatAddress(addr) };
  }
  writeDriverId(driver: DriverName, control: 'new_id' | 'remove_id', vendor: string, device: string): SysfsWrite {
    if (!/^[0-9a-f]{4}$/.test(vendor) || !/^[0-9a-f]{4}$/.test(device)) {
      throw new InputError(`Invalid PCI ID '${printable(vendor)}:${printable(device)}'.`);
    }
    return { hostPath: `/sys/bus/pci/drivers/${driver}/${control}`, value: `${vendor} ${device}` };
  }
  writeDriversProbe(addr: PciAddress): SysfsWrite {
    return { hostPath: '/sys/bus/pci/drivers_probe', value: formatAddress(addr) };
  }
}

function checkIndex(n: number): number {
  if (!Number.isInteger(n) || n < 0 || n > 0xffffff) throw new HostTreeError(`Invalid index ${n} in a sysfs path.`);
  return n;
}

const ADDR = '[0-9a-f]{4}:[0-9a-f]{2}:[0-9a-f]{2}\\.[0-7]';
const DRIVER = '[A-Za-z0-9_][A-Za-z0-9_.+-]{0,63}';
const WHITELIST = [
  new RegExp(`^/sys/bus/pci/devices/${ADDR}/driver_override$`),
  new RegExp(`^/sys/bus/pci/drivers/${DRIVER}/(?:bind|unbind|new_id|remove_id)$`),
  /^\/sys\/bus\/pci\/drivers_probe$/,
];

/** True when a host path is one of the files vfioctl is meant to write. */
export function isWhitelistedWrite(hostPath: string): boolean {
  if (hostPath.includes('/../') || hostPath.includes('/./') || hostPath.endsWith('/..')) return false;
  return WHITELIST.some((re) => re.test(hostPath));
}
