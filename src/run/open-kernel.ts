import fs from 'node:fs';
import path from 'node:path';
import { HostTreeError } from '../errors.js';
import type { Kernel } from '../kernel/kernel.js';
import { LinuxKernel } from '../kernel/linux.js';
import { isSimulatedRoot } from '../mock/kernel/sim-state.js';
import { SimulatedKernel } from '../mock/kernel/simulated.js';

/**
 * The kernel that answers writes under a host root: the simulated kernel of a tree made by
 * `vfioctl mock create`, or the real one at `/`. Any other directory is a copy of a host, not a host:
 * writing plain files there would pretend to detach devices, so it is refused.
 */
export function openKernel(root: string): Kernel {
  if (isSimulatedRoot(root)) return new SimulatedKernel(root);
  if (!fs.existsSync(root)) {
    throw new HostTreeError(`The host root ${root} cannot be read: it does not exist.`, 'Pass --root the directory that holds sys/ and proc/ (default /).');
  }
  if (path.resolve(root) === '/') return new LinuxKernel('/');
  throw new HostTreeError(
    `${root} is neither the real host (/) nor a simulated host made by \`vfioctl mock create\`, so there is no kernel to write to.`,
    'Read-only commands (list, group-info, check, detach --dry-run) work on it; to simulate writes, create a host with `vfioctl mock create`.',
  );
}
