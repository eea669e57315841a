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
  | 'held'
  /** A `<driver model=>` that does not fit the device (input error) / is not installed (vfio unavailable). */
  | 'model-mismatch'
  | 'model-missing';

export interface Blocker {
  kind: BlockerKind;
  message: string;
  /** The device concerned, when there is one. */
  device?: string;
}
