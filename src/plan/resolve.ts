import type { Host } from '../host/host.js';
import { formatAddress, parseSysfsAddress } from '../pci/address.js';
import type { PciDevice } from '../pci/device.js';
import type { Assignment } from '../xml/assignment.js';
import { isVfioDriver } from './vfio-driver.js';

/** An assignment from the XML, with the devices it names on this host. */
export interface ResolvedAssignment {
  assignment: Assignment;
  /** "<hostdev> at vm.xml:14" */
  label: string;
  devices: PciDevice[];
  /** What could not be found, as sentences. */
  missing: string[];
}

export function assignmentLabel(a: Assignment): string {
  return `<${a.source.element}> at ${a.source.file}:${a.source.line}`;
}

/**
 * Interfaces vfioctl saw on the devices it moved, by name: the journal records each moved device's interfaces
 * (PriorBinding.interfaces), because they are gone while the device is on vfio-pci.
 */
export type RecordedInterfaces = ReadonlyMap<string, string>;

/** Interface name → device address, from the journal's device records. */
export function recordedInterfaces(devices: Record<string, { interfaces?: unknown }>): Map<string, string> {
  const map = new Map<string, string>();
  for (const [addr, d] of Object.entries(devices)) {
    if (Array.isArray(d.interfaces)) for (const name of d.interfaces) if (typeof name === 'string') map.set(name, addr);
  }
  return map;
}

/**
 * A gone interface that names a device vfioctl moved: the journal's address, if that device is still there and
 * still held for vfio (on a vfio driver, or unbound), and, for a VF, still one of its PF's virtfnN links.
 */
function recordedDevice(ifname: string, host: Host, recorded: RecordedInterfaces | undefined): PciDevice | undefined {
  const at = recorded?.get(ifname);
  const addr = at === undefined ? null : parseSysfsAddress(at);
  const dev = addr ? host.reader.tryDevice(addr) : undefined;
  if (!dev || dev.netInterfaces.length > 0 || (dev.driver !== null && !isVfioDriver(dev.driver))) return undefined;
  if (dev.physfn) {
    const pf = host.reader.tryDevice(dev.physfn);
    if (!pf?.virtfns.some((v) => formatAddress(v) === dev.name)) return undefined;
  }
  return dev;
}

export function resolveAssignment(a: Assignment, host: Host, recorded?: RecordedInterfaces): ResolvedAssignment {
  const label = assignmentLabel(a);
  const reader = host.reader;
  const t = a.target;
  if (t.type === 'address') {
    const dev = reader.tryDevice(t.address);
    return dev
      ? { assignment: a, label, devices: [dev], missing: [] }
      : { assignment: a, label, devices: [], missing: [`${label}: no PCI device ${formatAddress(t.address)} on this host.`] };
  }
  const addr = reader.interfaceDevice(t.dev);
  if (addr === undefined && t.type === 'netdev') {
    // Gone because vfioctl moved its device to vfio-pci: the journal says which device it was.
    const moved = recordedDevice(t.dev, host, recorded);
    if (moved) return { assignment: a, label, devices: [moved], missing: [] };
  }
  if (addr === undefined) return { assignment: a, label, devices: [], missing: [`${label}: there is no network interface '${t.dev}' on this host.`] };
  if (addr === null) return { assignment: a, label, devices: [], missing: [`${label}: the interface '${t.dev}' is not a PCI device.`] };
  const dev = reader.tryDevice(addr);
  if (!dev) return { assignment: a, label, devices: [], missing: [`${label}: the interface '${t.dev}' points at ${formatAddress(addr)}, which is not on the PCI bus.`] };
  if (t.type === 'netdev') return { assignment: a, label, devices: [dev], missing: [] };
  // <pf dev=...>: the pool is the PF's virtual functions (sys/class/net/IF/device/virtfn*).
  if (dev.virtfns.length === 0) {
    return {
      assignment: a,
      label,
      devices: [],
      missing: [`${label}: '${t.dev}' (${dev.name}) has no virtual functions; enable them first (echo N > /sys/class/net/${t.dev}/device/sriov_numvfs).`],
    };
  }
  const vfs: PciDevice[] = [];
  const missing: string[] = [];
  for (const vf of dev.virtfns) {
    const v = reader.tryDevice(vf);
    if (v) vfs.push(v);
    else missing.push(`${label}: virtual function ${formatAddress(vf)} of '${t.dev}' is not on the PCI bus.`);
  }
  return { assignment: a, label, devices: vfs, missing };
}
