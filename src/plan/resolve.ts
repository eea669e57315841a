import type { Host } from '../host/host.js';
import { formatAddress } from '../pci/address.js';
import type { PciDevice } from '../pci/device.js';
import type { Assignment } from '../xml/assignment.js';

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

export function resolveAssignment(a: Assignment, host: Host): ResolvedAssignment {
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
