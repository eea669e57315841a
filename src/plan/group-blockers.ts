import type { Host } from '../host/host.js';
import type { Blocker } from './blocker.js';
import type { PlannedGroup } from './group-plan.js';
import { isVfioDriver } from './vfio-driver.js';
import { viabilityBlocker } from './viability.js';

/** One group named with different group modes. */
function conflictBlocker({ request }: PlannedGroup): Blocker[] {
  const refs = request.refs;
  if (new Set(refs.map((r) => r.assignment.groupMode)).size <= 1) return [];
  return [
    {
      kind: 'conflict',
      message: `IOMMU group ${request.group} is named with different group modes: ${refs.map((r) => `${r.label} (group='${r.assignment.groupMode}')`).join(', ')}. Use the same <driver group=...> for every device of one group.`,
    },
  ];
}

/** managed='no' on a device that is not on a vfio driver and that no managed assignment moves. */
function unmanagedBlockers({ request, managedRequested }: PlannedGroup): Blocker[] {
  return request.refs
    .filter((r) => !r.assignment.managed)
    .flatMap((r) =>
      r.devices
        .filter((d) => !isVfioDriver(d.driver) && !managedRequested.has(d.name))
        .map((d): Blocker => ({
          kind: 'unmanaged',
          device: d.name,
          message: `${r.label}: ${d.name} has managed='no', so libvirt expects it on vfio-pci already, but it is ${d.driver ? `bound to ${d.driver}` : 'not bound to any driver'}. Bind it to vfio-pci yourself, or set managed='yes'.`,
        })),
    );
}

/** Members that would still keep the group from being viable after the moves. */
function notViableBlocker({ request, plan, inTheWay }: PlannedGroup, host: Host): Blocker[] {
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
          ? `IOMMU group ${group} would not be viable with group='manual': members in the way: ${list}. Add group='auto' to <driver name='vfio'/> to move the whole group, or move those devices yourself.`
          : `IOMMU group ${group} would not be viable: members in the way: ${list}.`,
    },
  ];
}

/**
 * What refuses a move itself: a device the host needs (a note instead with --force), and an SR-IOV PF
 * with VFs enabled, which vfio_pci_probe() refuses (EBUSY: the VFs may be in use by the host).
 */
function moveBlockers({ plan, moves }: PlannedGroup, force: boolean): { blockers: Blocker[]; notes: string[] } {
  const blockers: Blocker[] = [];
  const notes: string[] = [];
  for (const { dev: m } of moves) {
    const needs = plan.members.find((p) => p.address === m.name)!.hostNeeds;
    if (needs.length > 0) {
      const text = `${m.name}: ${needs.join('; ')}`;
      if (force) notes.push(`--force: taking ${text}`);
      else blockers.push({ kind: 'host-needs', device: m.name, message: `${text}. Detaching it would take it from the host; use --force if you really mean it.` });
    }
    if (m.virtfns.length > 0) {
      blockers.push({
        kind: 'sriov-pf',
        device: m.name,
        message: `${m.name} is an SR-IOV physical function with ${m.virtfns.length} virtual function${m.virtfns.length === 1 ? '' : 's'} enabled, and vfio-pci refuses such a PF (its probe answers EBUSY). Assign the VFs instead, or disable them first: echo 0 > /sys/bus/pci/devices/${m.name}/sriov_numvfs.`,
      });
    }
  }
  return { blockers, notes };
}

/** Everything that keeps one planned group from being detached, in the order check lists it. */
export function groupBlockers(g: PlannedGroup, host: Host, force: boolean): { blockers: Blocker[]; notes: string[] } {
  const moved = moveBlockers(g, force);
  return {
    blockers: [...conflictBlocker(g), ...unmanagedBlockers(g), ...notViableBlocker(g, host), ...moved.blockers],
    notes: moved.notes,
  };
}
