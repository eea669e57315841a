import fs from 'node:fs';
import path from 'node:path';
import { confined } from './confined.js';
import { defaultProbeRefusals, type DriverDescription, type HostDescription, type IdMatch, type ProbeRefusal } from '../description.js';

export const SIM_DIR = '.vfioctl-sim';
export const SIM_FORMAT = 'vfioctl-sim/1';

export interface SimDriver extends DriverDescription {
  /** IDs added through new_id (pci_add_dynid), in the order added. */
  dynamicIds: IdMatch[];
  /** Always present in the state: the description's, or the defaults for the driver's name (materialize). */
  probeRefusals: ProbeRefusal[];
}

/**
 * A fault injected into the simulated kernel. `fail` makes a write return an errno: chosen by its position
 * (the Nth write on this host, 1-based, as counted in kernel.json `writes`) and/or by path and value; with the
 * path of a group node (/dev/vfio/N), the probe's open of it (Kernel.probeGroupNode) answers the errno.
 * `reclaim` models interference: right after ADDRESS is unbound, DRIVER takes it back (as a udev rule or
 * another tool probing it would), so a tool that does not verify would report success wrongly.
 */
export type SimFault =
  | { kind: 'fail'; errno: string; position?: number; path?: string; value?: string; times: 'once' | 'always' }
  | { kind: 'reclaim'; address: string; driver: string; times: 'once' | 'always' }
  /** The writing process dies (SIGKILL) right after the Nth write has taken effect: a crash mid-operation. */
  | { kind: 'crash'; position: number; times: 'once' }
  /** A process (a VM started by hand) opens NODE, a /dev/vfio node, right after the Nth write has taken effect (vfio-users.ts). */
  | { kind: 'hold'; position: number; node: string; pid: number; comm: string; times: 'once' };

/**
 * The private state of a simulated host's kernel, kept beside its tree in ROOT/.vfioctl-sim/:
 * kernel.json (the driver table with static and dynamic IDs, module states, injected faults, the write
 * counter) and writes.log (one JSON line per write attempted: path, value, result). The tree itself holds
 * everything a reader sees (drivers, overrides, links); this holds what only the kernel knows.
 */
export interface SimState {
  format: typeof SIM_FORMAT;
  host: string;
  kernel: HostDescription['kernel'];
  /** In registration order: the order the bus tries them on a probe. */
  drivers: SimDriver[];
  faults: SimFault[];
  /** Writes attempted so far (successful or not). */
  writes: number;
  /** /dev/vfio nodes a process holds open (a running VM), with its pid (vfio-users.ts); absent: none. */
  openNodes?: { node: string; pid: number }[];
}

export function simDir(root: string): string {
  return path.join(root, SIM_DIR);
}
export function isSimulatedRoot(root: string): boolean {
  return fs.existsSync(path.join(simDir(root), 'kernel.json'));
}

/** Read and written through the root's confined tree (confined.ts): a .vfioctl-sim made a symlink out of the root is refused. */
export function readSimState(root: string): SimState {
  const state = JSON.parse(confined(root).readFile(path.join(simDir(root), 'kernel.json'))) as SimState;
  if (state.format !== SIM_FORMAT) throw new Error(`${simDir(root)}/kernel.json is not a ${SIM_FORMAT} state file.`);
  // A tree made before probe refusals were part of the state gets the defaults materialize writes today.
  for (const d of state.drivers) d.probeRefusals ??= defaultProbeRefusals(d.name);
  return state;
}

export function writeSimState(root: string, state: SimState): void {
  confined(root).writeFile(path.join(simDir(root), 'kernel.json'), JSON.stringify(state, null, 1) + '\n');
}

export interface LoggedWrite {
  path: string;
  value: string;
  /** 'ok' or the errno. */
  result: string;
}

export function appendWriteLog(root: string, entry: LoggedWrite): void {
  confined(root).appendFile(path.join(simDir(root), 'writes.log'), JSON.stringify(entry) + '\n');
}

export function readWriteLog(root: string): LoggedWrite[] {
  let text: string;
  try {
    text = fs.readFileSync(path.join(simDir(root), 'writes.log'), 'utf8');
  } catch {
    return [];
  }
  return text
    .split('\n')
    .filter((l) => l.length > 0)
    .map((l) => JSON.parse(l) as LoggedWrite);
}

/** Adds a fault to a simulated host (tests and the robustness campaign use this). */
export function injectFault(root: string, fault: SimFault): void {
  const state = readSimState(root);
  state.faults.push(fault);
  writeSimState(root, state);
}
export function clearFaults(root: string): void {
  const state = readSimState(root);
  state.faults = [];
  writeSimState(root, state);
}
