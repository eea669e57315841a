import type { PciDevice } from '../pci/device.js';
import type { KernelRules } from '../pci/kernel-rules.js';
import type { GroupMode } from '../xml/assignment.js';
import { isVfioDriver } from './vfio-driver.js';
import { viabilityBlocker } from './viability.js';

/**
 * What a detach does with one member of a group: `move` it to its vfio driver, leave it because it is `already`
 * on a vfio driver it may stay on, or let it stay. Bridges never move (vfio-pci's probe refuses them: their header type is
 * not a normal endpoint's); one that stays unbound or on pcieport is fine (`bridge-stays`), one on another
 * driver keeps the group from being viable (`bridge-blocks`).
 */
export type MemberAction = 'move' | 'already' | 'bridge-stays' | 'bridge-blocks' | 'stays';

/**
 * What a detach asks of a member: its whole group moves (group='auto' with a managed assignment in the
 * group), the member itself is named by a managed assignment (group='manual'), or nothing.
 */
export type MoveScope = 'whole-group' | 'this-device' | 'none';

export function moveScope(mode: GroupMode, managedRequested: ReadonlySet<string>, name: string): MoveScope {
  if (mode === 'auto' && managedRequested.size > 0) return 'whole-group';
  return managedRequested.has(name) ? 'this-device' : 'none';
}

/**
 * The one decision of a member's action, for both group modes (also group-info's "auto would move").
 * `model`: the `<driver model=>` of the assignment naming this device, if any. A device on a vfio driver stays
 * there unless that model names another one: then it moves, as libvirt rebinds a device not bound to exactly
 * the stub driver it chose (docs/group-modes.md, "Which vfio driver, and a device already on one"). A group mate
 * has no model: any vfio driver will do for it.
 */
export function memberAction(dev: PciDevice, rules: KernelRules, scope: MoveScope, model?: string): MemberAction {
  // A host bridge (class 0600) is the root complex's own function: a whole-group move leaves it where it is,
  // as it leaves PCI bridges (it blocks the group only when bound to a host driver).
  const bridge = dev.isBridge || dev.class.startsWith('0600');
  if (bridge && scope !== 'this-device') return viabilityBlocker(dev, rules) === null ? 'bridge-stays' : 'bridge-blocks';
  if (scope === 'none') return 'stays';
  if (!isVfioDriver(dev.driver)) return 'move';
  return model !== undefined && model !== dev.driver ? 'move' : 'already';
}
