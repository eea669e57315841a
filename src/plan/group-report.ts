import type { Host } from '../host/host.js';
import type { BlockUse, NetUse } from '../host/usage.js';
import { formatAddress, type PciAddress } from '../pci/address.js';
import { className } from '../pci/class-names.js';
import type { PciDevice } from '../pci/device.js';
import { readReset, type ResetReport } from '../host/reset.js';
import { vfioNodes, type VfioNodes } from './vfio-nodes.js';
import { autoVerdict } from './auto-verdict.js';
import { memberFacts, type MemberFacts } from './group-plan.js';
import { groupHolder, reportHeld, reportHoldings, type Owner } from './ownership.js';
import { groupViability } from './viability.js';
import { nonPciBlocker, type NonPciMember } from '../host/non-pci.js';

/** One device as group-info and list report it (also the JSON shape, documented in README). */
export interface DeviceReport {
  address: string;
  vendor: string;
  device: string;
  class: string;
  className: string;
  vendorName: string | null;
  deviceName: string | null;
  subsystemVendor: string | null;
  subsystemDevice: string | null;
  driver: string | null;
  driverOverride: string | null;
  bridge: boolean;
  bootVga: boolean;
  net: NetUse[];
  block: BlockUse[];
  sriov: { role: 'pf'; vfs: string[] } | { role: 'vf'; pf: string } | null;
  /** Why the host needs it (boot GPU, a NIC with traffic, a disk controller in use); empty when it does not. */
  hostNeeds: string[];
  /** How the kernel can reset it (src/host/reset.ts). */
  reset: ResetReport;
  /** On a vfio driver: the nodes a VM opens (src/plan/vfio-nodes.ts); null otherwise. */
  vfio: VfioNodes | null;
  /** vfioctl moved it and holds it: its journal records it (`vfioctl status` says since when and for whom). */
  held: boolean;
}

export interface GroupReport {
  group: number;
  viable: boolean;
  devices: DeviceReport[];
  /** Members that are not PCI functions (platform devices ...): name, bus and driver; vfioctl never moves them. */
  nonPci: NonPciMember[];
  /** Members that keep the group from being viable now, and why. */
  blockers: { address: string; driver: string | null; reason: string }[];
  /**
   * What `<driver name='vfio' group='auto'/>` on a managed hostdev of this group would move to vfio-pci, as
   * check plans it (src/plan/auto-verdict.ts), and whether that detach would succeed; if not, check's blockers.
   */
  autoWouldMove: string[];
  autoWouldSucceed: boolean;
  autoBlockers: string[];
  /** Bridges that stay where they are without blocking the group: unbound or on pcieport (any driver on kernels ≤ 5.18). */
  bridgesStay: string[];
  /** Bridges that stay where they are and keep the group from being viable: vfio-pci does not take them. */
  bridgesBlock: string[];
  /** The libvirt domain or network vfioctl holds the group for (its hook moved members), or null. */
  heldBy: Owner | null;
}

/** What a report reads: the host (its reader, usage, pci.ids names and kernel rules). */
export type ReportContext = Host;

/** `facts`: the device's memberFacts, when the caller has them. */
export function deviceReport(dev: PciDevice, ctx: ReportContext, facts: MemberFacts = memberFacts(dev, ctx)): DeviceReport {
  const { use } = facts;
  return {
    address: dev.name,
    vendor: dev.vendor,
    device: dev.device,
    class: dev.class,
    className: className(dev.class),
    vendorName: facts.vendorName,
    deviceName: facts.deviceName,
    subsystemVendor: dev.subsystemVendor,
    subsystemDevice: dev.subsystemDevice,
    driver: dev.driver,
    driverOverride: dev.driverOverride,
    bridge: dev.isBridge,
    bootVga: dev.bootVga,
    net: use.net,
    block: use.block,
    sriov:
      dev.physfn !== null
        ? { role: 'vf', pf: formatAddress(dev.physfn) }
        : dev.virtfns.length > 0
          ? { role: 'pf', vfs: dev.virtfns.map(formatAddress) }
          : null,
    hostNeeds: facts.hostNeeds,
    reset: readReset(ctx.reader, dev, ctx.release),
    vfio: vfioNodes(ctx.reader, dev),
    held: reportHeld(ctx.reader).has(dev.name),
  };
}

/**
 * The report of one group: its members are read from sys/kernel/iommu_groups/N/devices unless given. `named`:
 * the device the user asked about (group-info), which the group='auto' verdict names as a hostdev would.
 * `givenNonPci`: the group's non-PCI members when `given` (list finds them in sys/class/iommu).
 */
export function groupReport(group: number, ctx: ReportContext, given?: PciDevice[], named?: PciDevice, givenNonPci?: NonPciMember[]): GroupReport {
  const members = given ?? ctx.reader.groupMembers(group).map((a: PciAddress) => ctx.reader.device(a));
  const nonPci = givenNonPci ?? (given ? [] : ctx.reader.groupNonPci(group));
  // Names and the host's use of each member, read once for the verdict's plan and the report.
  const facts = members.map((d) => memberFacts(d, ctx));
  const v = groupViability(members, ctx.rules);
  const auto = autoVerdict(group, members, ctx, named, nonPci, facts);
  const nonPciBlockers: GroupReport['blockers'] = [];
  for (const m of nonPci) {
    const reason = nonPciBlocker(m);
    if (reason) nonPciBlockers.push({ address: m.name, driver: m.driver, reason });
  }
  return {
    group,
    viable: v.viable && nonPciBlockers.length === 0,
    devices: members.map((d, i) => deviceReport(d, ctx, facts[i])),
    nonPci,
    blockers: [...v.blockers.map((b) => ({ address: b.dev.name, driver: b.dev.driver, reason: b.reason })), ...nonPciBlockers],
    autoWouldMove: auto.moves,
    autoWouldSucceed: auto.succeeds,
    autoBlockers: auto.blockers,
    bridgesStay: auto.bridgesStay,
    bridgesBlock: auto.bridgesBlock,
    heldBy: groupHolder(
      members.map((d) => d.name),
      reportHoldings(ctx.reader),
    ),
  };
}
