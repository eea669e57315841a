import { Host } from '../host/host.js';
import { hookStatus } from '../libvirt/hook-files.js';
import { parseSysfsAddress } from '../pci/address.js';
import type { Owner } from '../plan/ownership.js';
import { isVfioDriver } from '../plan/vfio-driver.js';
import type { PersistSource } from '../persist/record.js';
import { readRecord } from '../persist/store.js';
import { Journal, type JournalDevice, type JournalOperation } from '../run/journal.js';

/**
 * `vfioctl status`: what vfioctl holds now. Read-only and without the lock: the journal (src/run/journal.ts,
 * which validates it), each recorded device's driver in the live tree, the persist record (src/persist/store.ts)
 * and, when a libvirt directory is known, the hooks (src/libvirt/hook-files.ts). A run under way may change
 * the journal a moment later; status shows one reading, as `systemctl status` does.
 */

/** The command that completes an interrupted operation (src/run/reattach.ts, `--all`). */
export const COMPLETE_COMMAND = 'vfioctl reattach --all';

/**
 * What the live tree shows of vfioctl's move: `held` on a vfio driver; `moving` unbound or with a vfio
 * driver_override, as an interrupted detach or reattach leaves it; `drifted` on another driver (something
 * else moved it since); `gone` no longer on the PCI bus. As src/run/restore-scope.ts decides what reattach takes.
 */
export type HeldState = 'held' | 'moving' | 'drifted' | 'gone';

export interface StatusDevice {
  address: string;
  state: HeldState;
  /** Its driver now (null: unbound or gone). */
  driver: string | null;
  /** The driver and driver_override it had before vfioctl moved it: what reattach gives it back to. */
  priorDriver: string | null;
  priorOverride: string | null;
  since: string;
  by: string;
  /** The libvirt domain or network whose hook moved it; null for a plain `vfioctl detach`. */
  owner: Owner | null;
  /** What its state means and what to do, when it is not `held`. */
  note: string | null;
}

export interface StatusOperation {
  command: string;
  pid: number;
  started: string;
  done: number;
  steps: number;
  /** Whether its process still runs: then it is under way, not interrupted. */
  running: boolean;
  complete: typeof COMPLETE_COMMAND;
}

export interface StatusPersisted {
  address: string;
  group: number;
  mode: 'auto' | 'manual';
  source: PersistSource;
  since: string;
}

export interface StatusHooks {
  libvirtDir: string;
  installed: boolean;
  warnings: string[];
}

export interface StatusReport {
  /** Nothing needs attention: no interrupted operation, every device held, the hooks (when looked at) sound. */
  ok: boolean;
  devices: StatusDevice[];
  operation: StatusOperation | null;
  persisted: StatusPersisted[];
  /** null when no libvirt directory was looked at (--root is not / and no --libvirt-dir). */
  hooks: StatusHooks | null;
  /** One sentence per thing that needs attention, each with what to do. */
  attention: string[];
}

export function readStatus(root: string, libvirtDir: string | null): StatusReport {
  const host = new Host(root);
  const journal = new Journal(host.reader.layout.stateDir, host.root);
  const devices = Object.entries(journal.data.devices)
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([address, rec]) => statusDevice(host, address, rec));
  const operation = journal.data.operation ? statusOperation(journal.data.operation) : null;
  const persisted = (readRecord(root)?.devices ?? []).map((d) => ({ address: d.address, group: d.group, mode: d.mode, source: d.source, since: d.since }));
  const hooks = libvirtDir === null ? null : hooksOf(libvirtDir);
  const attention = [
    ...(operation ? [operationSentence(operation)] : []),
    ...devices.filter((d) => d.note !== null).map((d) => `${d.address}: ${d.note}`),
    ...(hooks?.warnings ?? []),
  ];
  return { ok: attention.length === 0, devices, operation, persisted, hooks, attention };
}

function statusDevice(host: Host, address: string, rec: JournalDevice): StatusDevice {
  const make = (state: HeldState, driver: string | null, note: string | null): StatusDevice => ({
    address,
    state,
    driver,
    priorDriver: rec.driver,
    priorOverride: rec.override,
    since: rec.since,
    by: rec.by,
    owner: rec.owner ?? null,
    note,
  });
  const addr = parseSysfsAddress(address);
  const dev = addr ? host.reader.tryDevice(addr) : null;
  if (!dev) return make('gone', null, `no longer on the PCI bus (removed or hot-unplugged); ${COMPLETE_COMMAND} drops it from the journal.`);
  if (isVfioDriver(dev.driver)) return make('held', dev.driver, null);
  if (isVfioDriver(dev.driverOverride) || (dev.driver === null && rec.driver !== null)) {
    const where = dev.driver ? `on ${dev.driver}` : 'unbound';
    return make('moving', dev.driver, `${where}, driver_override ${dev.driverOverride ?? 'empty'}: a move was cut short; ${COMPLETE_COMMAND} gives it back to ${rec.driver ?? "the kernel's probe"}.`);
  }
  return make(
    'drifted',
    dev.driver,
    `drifted: it is on ${dev.driver ?? 'no driver'} now, not on a vfio driver, so something else moved it after vfioctl did; ${COMPLETE_COMMAND} leaves it where it is and drops it from the journal.`,
  );
}

function statusOperation(op: JournalOperation): StatusOperation {
  return { command: op.command, pid: op.pid, started: op.started, done: op.done, steps: op.steps.length, running: processRuns(op.pid), complete: COMPLETE_COMMAND };
}

function operationSentence(op: StatusOperation): string {
  const what = `'${op.command}' (pid ${op.pid}, started ${op.started}, ${op.done} of ${op.steps} writes done)`;
  return op.running
    ? `${what} is under way; if it does not finish, run ${COMPLETE_COMMAND}.`
    : `${what} was interrupted: run ${COMPLETE_COMMAND} to give its devices back and complete it.`;
}

/** Whether a process with this pid exists (pid 0 and 1 are never a vfioctl). */
function processRuns(pid: number): boolean {
  if (!Number.isSafeInteger(pid) || pid <= 1) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function hooksOf(libvirtDir: string): StatusHooks {
  const report = hookStatus(libvirtDir);
  return { libvirtDir: report.libvirtDir, installed: report.installed, warnings: report.warnings };
}
