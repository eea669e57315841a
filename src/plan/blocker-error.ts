import {
  ExitCode,
  InputError,
  IommuError,
  NotFoundError,
  NotViableError,
  UnsafeError,
  VfioUnavailableError,
  type VfioctlError,
} from '../errors.js';
import type { Blocker, BlockerKind } from './blocker.js';

/** The order in which blocker kinds decide the exit code: the first present wins. */
const PRIORITY: BlockerKind[] = ['duplicate', 'conflict', 'missing', 'iommu-off', 'no-group', 'vfio-missing', 'bridge', 'sriov-pf', 'not-viable', 'unmanaged', 'host-needs', 'new-id-grab', 'vfio-load-grab', 'held'];

function errorFor(kind: BlockerKind, message: string): VfioctlError {
  switch (kind) {
    case 'duplicate':
    case 'conflict':
      return new InputError(message);
    case 'missing':
      return new NotFoundError(message);
    case 'iommu-off':
    case 'no-group':
      return new IommuError(message);
    case 'vfio-missing':
      return new VfioUnavailableError(message);
    case 'bridge':
    case 'sriov-pf':
    case 'not-viable':
    case 'unmanaged':
    case 'held':
      return new NotViableError(message);
    case 'host-needs':
    case 'new-id-grab':
    case 'vfio-load-grab':
      return new UnsafeError(message);
  }
}

/** One error for a set of blockers: the most important kind decides the class; the message lists all. */
export function blockersError(blockers: Blocker[], what: string): VfioctlError {
  const top = PRIORITY.find((k) => blockers.some((b) => b.kind === k))!;
  const lines = blockers.map((b) => `  - ${b.message}`).join('\n');
  return errorFor(top, `${what}, because:\n${lines}`);
}

export function exitCodeFor(blockers: Blocker[]): number {
  if (blockers.length === 0) return ExitCode.ok;
  return blockersError(blockers, '').exitCode;
}
