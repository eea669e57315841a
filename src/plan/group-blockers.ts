import type { Host } from '../host/host.js';
import type { PciDevice } from '../pci/device.js';
import type { LibvirtDocument } from '../xml/assignment.js';
import { VFIOCTL_NS } from '../xml/metadata.js';
import type { Blocker } from './blocker.js';
import type { GroupPlan, PlannedGroup } from './group-plan.js';
import { isVfioDriver } from './vfio-driver.js';
import { viabilityBlocker } from './viability.js';
import { nonPciBlocker } from '../host/non-pci.js';

/** One group named with different group modes. */
function conflictBlocker({ request }: PlannedGroup): Blocker[] {
  const refs = request.refs;
  if (refs.every((r) => r.assignment.groupMode === refs[0]!.assignment.groupMode)) return [];
  return [
    {
      kind: 'conflict',
      message: `IOMMU group ${request.group} is named with different group modes: ${refs.map((r) => `${r.label} (group='${r.assignment.groupMode}')`).join(', ')}. Use the same <driver group=...> for every device of one group.`,
    },
  ];
}

/** managed='no' on a device that is not on a vfio driver and that no managed assignment moves. */
function unmanagedBlockers({ request, managedRequested }: PlannedGroup): Blocker[] {
  const out: Blocker[] = [];
  for (const r of request.refs) {
    if (r.assignment.managed) continue;
    for (const d of r.devices) {
      if (isVfioDriver(d.driver) || managedRequested.has(d.name)) continue;
      out.push({
        kind: 'unmanaged',
        device: d.name,
        message: `${r.label}: ${d.name} has managed='no', so libvirt expects it on vfio-pci already, but it is ${d.driver ? `bound to ${d.driver}` : 'not bound to any driver'}. Bind it to vfio-pci yourself, or set managed='yes'.`,
      });
    }
  }
  return out;
}

/**
 * How to ask for group='auto' where this document's mode came from. libvirt drops the <driver group=>
 * attribute on `virsh define` (docs/group-modes.md), so a domain libvirt knows keeps the mode in vfioctl's
 * metadata; a file not yet defined may use either.
 */
function autoAdvice({ request }: PlannedGroup, doc: Pick<LibvirtDocument, 'kind' | 'name'>): string {
  const fromMetadata = request.refs.find((r) => r.assignment.groupModeSource.startsWith('metadata'));
  const name = doc.name || (doc.kind === 'domain' ? 'DOMAIN' : 'NETWORK');
  const virsh =
    doc.kind === 'domain'
      ? `virsh metadata ${name} ${VFIOCTL_NS} --key vfioctl --set '<groups default="auto"/>'`
      : `virsh net-edit ${name}, in vfioctl's element of <metadata>`;
  if (fromMetadata?.assignment.groupModeRef) {
    const at = fromMetadata.assignment.groupModeRef;
    return `Set group="auto" in vfioctl's metadata (${at.file}:${at.line}) to move the whole group (${virsh}), or move those devices yourself.`;
  }
  return `Add group='auto' to <driver name='vfio'/> to move the whole group (for a ${doc.kind} libvirt has defined, which drops that attribute: ${virsh}), or move those devices yourself.`;
}

/** Members that would still keep the group from being viable after the moves. */
function notViableBlocker(g: PlannedGroup, host: Host, doc: Pick<LibvirtDocument, 'kind' | 'name'>): Blocker[] {
  const { request, plan, inTheWay } = g;
  if (inTheWay.length === 0) return [];
  const group = request.group;
  const list = inTheWay.map((m) => `${m.name} (${viabilityBlocker(m, host.rules)})`).join(', ');
  const bridgesOnly = inTheWay.every((m) => m.isBridge);
  return [
    {
      kind: 'not-viable',
      message: bridgesOnly
        ? `IOMMU group ${group} cannot become viable: ${list}. Unbind the bridge from that driver by hand; vfio-pci does not take bridges.`
        : plan.mode === 'manual'
          ? `IOMMU group ${group} would not be viable with group='manual': members in the way: ${list}. ${autoAdvice(g, doc)}`
          : `IOMMU group ${group} would not be viable: members in the way: ${list}.`,
    },
  ];
}

/**
 * Non-PCI members bound to a driver that is not a vfio one: the kernel does not count the group viable while
 * they are, and vfioctl moves only PCI functions (whatever the group mode), so it refuses instead of
 * leaving the group half-moved.
 */
function nonPciBlockers({ request, plan, nonPciInTheWay }: PlannedGroup): Blocker[] {
  if (nonPciInTheWay.length === 0) return [];
  const list = nonPciInTheWay.map((m) => `${m.name} (${nonPciBlocker(m)})`).join(', ');
  const unbind = nonPciInTheWay.map((m) => `echo ${m.name} > /sys/bus/${m.bus ?? 'platform'}/drivers/${m.driver}/unbind`).join('; ');
  const lead = plan.mode === 'auto' ? `group='auto' cannot make IOMMU group ${request.group} viable` : `IOMMU group ${request.group} would not be viable`;
  return [
    {
      kind: 'not-viable',
      message: `${lead}: it also holds non-PCI devices, which vfioctl does not move: ${list}. The kernel counts the group viable only when they are unbound or on a vfio driver (vfio-platform); unbind them yourself if the host can spare them (${unbind}), or assign devices of another group.`,
    },
  ];
}

/**
 * An SR-IOV PF with VFs enabled. Unbinding its driver removes the VFs (a PF driver's remove() calls
 * pci_disable_sriov(): igb, ixgbe, i40e, mlx5 ...), whoever is using them, and only then would vfio-pci take
 * the PF; with a driver that keeps them (pci-pf-stub, no remove()), vfio-pci's probe answers EBUSY
 * (test/vm/README.md). Either way vfioctl refuses (exit 7) and says what would happen to the VFs.
 */
function sriovPfBlocker(m: PciDevice, host: Host, readVfs: boolean): Blocker {
  const n = m.virtfns.length;
  const vfs = readVfs ? m.virtfns.map((a) => host.reader.tryDevice(a)).filter((v): v is PciDevice => v !== null) : [];
  const onVfio = vfs.filter((v) => isVfioDriver(v.driver)).length;
  const inUse = onVfio > 0 ? `, ${onVfio} of them on vfio-pci (perhaps in a VM)` : '';
  return {
    kind: 'sriov-pf',
    device: m.name,
    message: `${m.name} is an SR-IOV physical function with ${n} virtual function${n === 1 ? '' : 's'} enabled: unbinding its driver removes its ${n} VF${n === 1 ? '' : 's'}, which may be in use${inUse} (a PF driver without remove(), such as pci-pf-stub, keeps them, and then vfio-pci's probe answers EBUSY). Assign the VFs instead, or, when none of them is in use, disable them first: echo 0 > /sys/bus/pci/devices/${m.name}/sriov_numvfs.`,
  };
}

/** What refuses a move itself: a device the host needs (a note instead with --force), and an SR-IOV PF with VFs enabled. */
function moveBlockers({ plan, moves }: PlannedGroup, host: Host, force: boolean, readVfs: boolean): { blockers: Blocker[]; notes: string[] } {
  const blockers: Blocker[] = [];
  const notes: string[] = [];
  for (const { dev: m } of moves) {
    const needs = plan.members.find((p) => p.address === m.name)!.hostNeeds;
    if (needs.length > 0) {
      const text = `${m.name}: ${needs.join('; ')}`;
      if (force) notes.push(`--force: taking ${text}`);
      else blockers.push({ kind: 'host-needs', device: m.name, message: `${text}. Detaching it would take it from the host; use --force if you really mean it.` });
    }
    if (m.virtfns.length > 0) blockers.push(sriovPfBlocker(m, host, readVfs));
  }
  return { blockers, notes };
}

/**
 * Everything that keeps one planned group from being detached, in the order check lists it. `readVfs`
 * false (list's verdict for every group) leaves out how many of a PF's VFs are on vfio-pci, which would read
 * every VF of the host a second time.
 */
export function groupBlockers(g: PlannedGroup, host: Host, force: boolean, doc: Pick<LibvirtDocument, 'kind' | 'name'>, readVfs = true): { blockers: Blocker[]; notes: string[] } {
  const moved = moveBlockers(g, host, force, readVfs);
  return {
    blockers: [...conflictBlocker(g), ...unmanagedBlockers(g), ...notViableBlocker(g, host, doc), ...nonPciBlockers(g), ...moved.blockers],
    notes: moved.notes,
  };
}

/**
 * The groups as check reports them: a detach writes nothing while any blocker stands (it refuses as a whole,
 * src/run/detach.ts), so no group is viable "after detach" then, whatever its moves alone would do. Check's
 * exit code and each group's `viableAfter` therefore never disagree (an SR-IOV PF with VFs, a device the host
 * needs, a managed='no' device that is not on vfio-pci: the moves would leave the group viable, the detach refuses).
 */
export function groupsAfterDetach(groups: GroupPlan[], blockers: Blocker[]): GroupPlan[] {
  return blockers.length === 0 ? groups : groups.map((g) => ({ ...g, viableAfter: false }));
}
