import { ExitCode } from '../errors.js';
import type { Host } from '../host/host.js';
import { nonPciBlocker, type NonPciMember } from '../host/non-pci.js';
import { parseAddress } from '../pci/address.js';
import type { PciDevice } from '../pci/device.js';
import { analyze } from '../plan/analyze.js';
import type { Assignment, LibvirtDocument } from '../xml/assignment.js';
import { MODULES_LOAD_FILE, RECORD_FILE, UDEV_RULE_FILE } from './paths.js';
import type { PersistedDevice } from './record.js';
import { readRecord } from './store.js';

/**
 * `vfioctl persist --verify`, run at boot by vfioctl-verify.service and by hand: did every persisted device
 * end up on vfio-pci, and is every persisted group viable? The kernel's rule for viability is the planner's
 * (src/plan/analyze.ts): the groups' members are handed to it as managed='no' devices, which it expects on
 * vfio-pci already, so its verdict names each member that is not, and says whether each group is viable.
 */
export type DeviceState = 'held' | 'missing' | 'ids-changed' | 'no-group' | 'host-driver' | 'unbound';

export interface VerifiedDevice {
  address: string;
  group: number;
  state: DeviceState;
  driver: string | null;
}

export interface VerifiedGroup {
  group: number;
  viable: boolean;
  /** Members that were not persisted and keep the group from being viable: PCI addresses, then non-PCI device names. */
  inTheWay: string[];
}

export interface VerifyReport {
  ok: boolean;
  exitCode: number;
  devices: VerifiedDevice[];
  groups: VerifiedGroup[];
  /** One line per problem, naming the device. */
  problems: string[];
  notes: string[];
}

const ids = (vendor: string, device: string, sv: string | null, sd: string | null): string => `${vendor}:${device}${sv !== null && sd !== null ? ` (subsystem ${sv}:${sd})` : ''}`;
const persistedIds = (d: PersistedDevice): string => ids(d.vendor, d.device, d.subsystemVendor, d.subsystemDevice);
const from = (d: PersistedDevice): string => `IOMMU group ${d.group}, persisted from ${d.source.file}`;

/** The members of the groups, as a document of managed='no' hostdevs: what the planner checks must be on vfio-pci. */
function groupsAsDocument(members: PciDevice[]): LibvirtDocument {
  const assignments: Assignment[] = members.map((m) => ({
    kind: 'hostdev',
    source: { file: RECORD_FILE, line: 0, element: 'hostdev' },
    managed: false,
    driverName: 'vfio',
    groupMode: 'manual',
    groupModeExplicit: false,
    groupModeSource: 'default',
    target: { type: 'address', address: m.address },
  }));
  return { kind: 'domain', name: 'persisted', file: RECORD_FILE, assignments, notHandled: [] };
}

function checkDevice(d: PersistedDevice, dev: PciDevice | null, notOnVfio: Set<string>): { state: DeviceState; problem?: string } {
  if (!dev) return { state: 'missing', problem: `${d.address}: missing: there is no PCI device at this address now (${persistedIds(d)}, ${from(d)}).` };
  const now = ids(dev.vendor, dev.device, dev.subsystemVendor, dev.subsystemDevice);
  if (now !== persistedIds(d)) {
    return { state: 'ids-changed', problem: `${d.address}: the device there is ${now}, not the persisted ${persistedIds(d)}, so the rule left it alone (${from(d)}). If the card was moved or replaced, persist again.` };
  }
  if (dev.iommuGroup === null) return { state: 'no-group', problem: `${d.address}: in no IOMMU group, so VFIO cannot use it (${from(d)}): is the IOMMU on (intel_iommu=on or amd_iommu=on)?` };
  if (!notOnVfio.has(d.address)) return { state: 'held' };
  if (dev.driver) {
    return {
      state: 'host-driver',
      problem: `${d.address}: on its host driver ${dev.driver}, not vfio-pci (${from(d)}). \`vfioctl detach ${d.source.file === "<stdin>" ? "FILE" : d.source.file}\` moves it now; after a boot, a driver bound before the udev rule (built into the kernel, or loaded from the initramfs): see README, "Persistence at boot".`,
    };
  }
  return {
    state: 'unbound',
    problem: `${d.address}: bound to no driver (driver_override: ${dev.driverOverride ?? 'none'}), not vfio-pci (${from(d)}). Check that vfio-pci loads (${MODULES_LOAD_FILE}) and that udev ran ${UDEV_RULE_FILE}.`,
  };
}

/**
 * Non-PCI members bound to a host driver (src/host/non-pci.ts): the kernel does not count their group viable,
 * and neither the udev rule nor vfioctl moves them, so a boot that bound one leaves the group unusable.
 */
function nonPciProblem(group: number, members: NonPciMember[]): string {
  const list = members.map((m) => `${m.name} (${nonPciBlocker(m)})`).join(', ');
  const unbind = members.map((m) => `echo ${m.name} > /sys/bus/${m.bus ?? 'platform'}/drivers/${m.driver}/unbind`).join('; ');
  return `IOMMU group ${group} is not viable: ${list} in the way. Unbind ${members.length === 1 ? 'it' : 'them'} at boot (${unbind}), or persist devices of another group.`;
}

export function verifyPersisted(host: Host): VerifyReport {
  const persisted = readRecord(host.root)?.devices ?? [];
  const found = persisted.map((d) => host.reader.tryDevice(parseAddress(d.address)));
  const groupNumbers = [...new Set(found.flatMap((dev) => (dev && dev.iommuGroup !== null ? [dev.iommuGroup] : [])))].sort((a, b) => a - b);
  const members = groupNumbers.flatMap((g) => host.reader.groupMembers(g)).map((a) => host.reader.device(a));
  const analysis = analyze(groupsAsDocument(members.filter((m) => !m.isBridge)), host, { force: false });
  const notOnVfio = new Set(analysis.blockers.filter((b) => b.kind === 'unmanaged' && b.device).map((b) => b.device!));
  const problems = analysis.blockers.filter((b) => b.kind === 'iommu-off' || b.kind === 'vfio-missing').map((b) => b.message);
  const notes: string[] = [];
  const devices = persisted.map((d, i): VerifiedDevice => {
    const dev = found[i]!;
    const { state, problem } = checkDevice(d, dev, notOnVfio);
    if (problem) problems.push(problem);
    if (dev && dev.iommuGroup !== null && dev.iommuGroup !== d.group) notes.push(`${d.address} was persisted in IOMMU group ${d.group} and is in group ${dev.iommuGroup} now.`);
    return { address: d.address, group: dev?.iommuGroup ?? d.group, state, driver: dev?.driver ?? null };
  });
  const ours = new Set(persisted.map((d) => d.address));
  const groups = analysis.groups.map((g): VerifiedGroup => {
    const inTheWay = g.members.filter((m) => !ours.has(m.address) && (m.fate === 'bridge-blocks' || (notOnVfio.has(m.address) && m.driver !== null)));
    if (inTheWay.length > 0) {
      problems.push(`IOMMU group ${g.group} is not viable: ${inTheWay.map((m) => `${m.address} (${m.bridge ? 'a bridge ' : ''}on ${m.driver}, not persisted)`).join(', ')} in the way. Persist the domain with group='auto' to hold the whole group.`);
    }
    const nonPci = g.nonPci.filter((m) => nonPciBlocker(m) !== null);
    if (nonPci.length > 0) problems.push(nonPciProblem(g.group, nonPci));
    return { group: g.group, viable: g.viableNow, inTheWay: [...inTheWay.map((m) => m.address), ...nonPci.map((m) => m.name)] };
  });
  const ok = problems.length === 0;
  return { ok, exitCode: ok ? ExitCode.ok : ExitCode.persistCheck, devices, groups, problems, notes };
}
