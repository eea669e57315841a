/** Why a detach would refuse, by kind; the kind decides the exit code (src/plan/blocker-error.ts). */
export type BlockerKind =
  | 'duplicate'
  | 'conflict'
  | 'missing'
  | 'iommu-off'
  | 'no-group'
  | 'vfio-missing'
  | 'not-viable'
  | 'unmanaged'
  | 'bridge'
  | 'sriov-pf'
  | 'host-needs'
  /** new_id (kernels without driver_override) would bind an unbound device with the same ID elsewhere. */
  | 'new-id-grab'
  /** Loading vfio-pci would bind an unbound device elsewhere whose driver_override already names it. */
  | 'vfio-load-grab'
  | 'held';

export interface Blocker {
  kind: BlockerKind;
  message: string;
  /** The device concerned, when there is one. */
  device?: string;
}
