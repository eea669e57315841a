import type { Host } from '../host/host.js';
import type { PciDevice } from '../pci/device.js';
import type { NonPciMember } from '../host/non-pci.js';
import type { Assignment } from '../xml/assignment.js';
import { hostBlockers } from './analyze.js';
import { groupBlockers } from './group-blockers.js';
import { planGroup, type MemberFacts } from './group-plan.js';
import type { ResolvedAssignment } from './resolve.js';

/** What group='auto' would do with one group, decided by check's own planner (group-plan.ts, group-blockers.ts). */
export interface AutoVerdict {
  /** The members a detach would move to vfio-pci. */
  moves: string[];
  /** Whether that detach would succeed (check's exit 0, without --force). */
  succeeds: boolean;
  /** Why it would not: check's blockers, as sentences. */
  blockers: string[];
  bridgesStay: string[];
  bridgesBlock: string[];
}

/** What the host lacks for any detach (an IOMMU, a vfio-pci it has or can load): read once per host. */
const hostWide = new WeakMap<Host, string[]>();
function hostWideBlockers(host: Host, dev: PciDevice): string[] {
  let found = hostWide.get(host);
  if (!found) hostWide.set(host, (found = hostBlockers(new Map([[dev.name, { dev, refs: [] }]]), host).blockers.map((b) => b.message)));
  return found;
}

/** A host bridge (class 0600): the root complex's own function, never a device to hand to a guest. */
const isHostBridge = (d: PciDevice): boolean => d.class.startsWith('0600');
const assignable = (d: PciDevice): boolean => !d.isBridge && !isHostBridge(d);

/**
 * list and group-info ask the planner check uses, so they never promise what check refuses: the group's
 * verdict is that of `<hostdev managed='yes'><driver name='vfio' group='auto'/>` naming `named` (or the
 * group's first device that can be assigned), as if written in a domain. A group with nothing assignable
 * (bridges only, or the host bridge alone, as in most hosts' group 0) moves nothing, and auto cannot succeed.
 * `facts`: the members' memberFacts, when the caller has them.
 */
export function autoVerdict(group: number, members: PciDevice[], host: Host, named?: PciDevice, nonPci: NonPciMember[] = [], facts?: MemberFacts[]): AutoVerdict {
  const dev = named && assignable(named) ? named : members.find(assignable);
  if (!dev) {
    const why = [
      ...members.map((m) => `${m.name} is ${isHostBridge(m) ? 'a host bridge' : 'a PCI bridge'}`),
      ...nonPci.map((m) => `${m.name} is a non-PCI ${m.bus ?? ''}${m.bus ? ' ' : ''}device (vfioctl moves only PCI functions)`),
    ].join(', ');
    return { moves: [], succeeds: false, blockers: [`IOMMU group ${group} has no device to assign: ${why}.`], bridgesStay: [], bridgesBlock: [] };
  }
  const planned = planGroup({ group, refs: [autoHostdev(dev)], requested: new Set([dev.name]) }, host, members, nonPci, facts);
  const { blockers } = groupBlockers(planned, host, false, { kind: 'domain', name: '' }, named !== undefined);
  const bridgesStay: string[] = [];
  const bridgesBlock: string[] = [];
  for (const m of planned.plan.members) {
    if (m.fate === 'bridge-stays') bridgesStay.push(m.address);
    else if (m.fate === 'bridge-blocks') bridgesBlock.push(m.address);
  }
  const all = [...hostWideBlockers(host, dev), ...blockers.map((b) => b.message)];
  return {
    moves: planned.moves.map((m) => m.dev.name),
    succeeds: all.length === 0,
    blockers: all,
    bridgesStay,
    bridgesBlock,
  };
}

function autoHostdev(dev: PciDevice): ResolvedAssignment {
  const assignment: Assignment = {
    kind: 'hostdev',
    source: { file: '(group-info)', line: 0, element: 'hostdev' },
    managed: true,
    driverName: 'vfio',
    groupMode: 'auto',
    groupModeExplicit: true,
    groupModeSource: 'attribute',
    target: { type: 'address', address: dev.address },
  };
  return { assignment, label: `group='auto' on ${dev.name}`, devices: [dev], missing: [] };
}
