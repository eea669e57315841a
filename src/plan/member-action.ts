import type { PciDevice } from '../pci/device.js';
import type { KernelRules } from '../pci/kernel-rules.js';
import { isVfioDriver, viabilityBlocker } from './viability.js';

/**
 * What `group='auto'` does with one member of a group: endpoints move to vfio-pci; bridges stay where they
 * are (vfio-pci refuses them: header type != 0, sysfs-semantics.md), which is fine when they are unbound
 * or on pcieport, and blocks the group otherwise.
 */
export type MemberAction = 'move' | 'already' | 'bridge-stays' | 'bridge-blocks';

export function autoAction(dev: PciDevice, rules: KernelRules): MemberAction {
  if (dev.isBridge) return viabilityBlocker(dev, rules) === null ? 'bridge-stays' : 'bridge-blocks';
  if (isVfioDriver(dev.driver)) return 'already';
  return 'move';
}
