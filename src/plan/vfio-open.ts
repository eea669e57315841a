import type { Host } from '../host/host.js';
import type { GroupPlan } from './group-plan.js';
import type { ResolvedAssignment } from './resolve.js';
import { hasDevIommu } from './vfio-nodes.js';
import { groupNode } from '../host/isolation.js';

/**
 * What the VM will open once its devices are on vfio drivers, as a sentence for `check` (null when it assigns
 * nothing): the groups' /dev/vfio/N, or, with `<driver iommufd='yes'/>` (libvirt 12.1), /dev/iommu and each
 * device's vfio cdev. The group rule holds either way: iommufd_device_bind claims DMA ownership of the whole group.
 */
export function vfioOpens(resolved: ResolvedAssignment[], groups: GroupPlan[], host: Host): string | null {
  if (groups.length === 0) return null;
  const iommu = hasDevIommu(host.reader);
  const nodes = groups.map((g) => groupNode(host.reader, g.group)).join(', ');
  if (resolved.some((r) => r.assignment.iommufd)) {
    return iommu
      ? "With iommufd='yes' the VM opens /dev/iommu and each device's /dev/vfio/devices/vfioN (the kernel makes it when the device binds to its vfio driver) instead of " +
          `${nodes}; every member of the group must still be on a vfio driver or unbound.`
      : `iommufd='yes' needs /dev/iommu, which this host does not have (its kernel has no IOMMUFD or no VFIO device cdev): the VM would fail to start; without iommufd='yes' it opens ${nodes}.`;
  }
  return `The VM will open ${nodes} (the VFIO group${groups.length === 1 ? '' : 's'})${iommu ? "; this kernel also has /dev/iommu and per-device /dev/vfio/devices/vfioN, which <driver iommufd='yes'/> uses" : ''}.`;
}
