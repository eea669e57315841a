import type { Host } from '../host/host.js';
import type { DriverName } from '../pci/driver.js';
import type { Kernel } from '../kernel/kernel.js';
import { parseSysfsAddress } from '../pci/address.js';
import { isVfioDriver } from '../plan/vfio-driver.js';
import { planRestoreWrites, type PriorBinding, type RestoreTarget } from '../plan/writes.js';
import { currentDriver, executeSteps, StepError } from './execute.js';
import { unblocked } from './restore-scope.js';

/** Restore targets for devices, each with the binding recorded before it moved (or null), read fresh from the tree. */
export function restoreTargets(host: Host, entries: [string, PriorBinding | null][]): RestoreTarget[] {
  const out: RestoreTarget[] = [];
  for (const [name, original] of entries) {
    const addr = parseSysfsAddress(name);
    if (!addr) continue;
    host.reader.invalidate(addr);
    const dev = host.reader.tryDevice(addr);
    if (!dev) continue;
    out.push({ dev, original: original && unblocked(original), originalLoaded: original?.driver ? host.reader.driverLoaded(original.driver as DriverName) : false });
  }
  return out;
}

export interface RestoreOutcome {
  restored: string[];
  /** Devices not back where they were, each with a sentence. */
  left: { device: string; reason: string }[];
}

/**
 * Puts devices back on their original drivers, as far as the kernel lets it: after a failed step it
 * re-plans from the tree and goes on with the other devices (a rollback must not stop at the first refusal).
 */
export function restore(host: Host, kernel: Kernel, entries: [string, PriorBinding | null][]): RestoreOutcome {
  // A refused write is tried once more (the kernel may have been busy for a moment); a device refused
  // twice is given up on, so that it cannot keep the others from going back.
  const failures = new Map<string, { count: number; reason: string }>();
  const failed = new Map<string, string>();
  for (let attempt = 0; attempt < 2 * entries.length + 1; attempt++) {
    const pending = entries.filter(([name]) => (failures.get(name)?.count ?? 0) < 2);
    const steps = planRestoreWrites(restoreTargets(host, pending), host.reader.layout);
    if (steps.length === 0) break;
    try {
      executeSteps(steps, { kernel, reader: host.reader });
      break;
    } catch (err) {
      if (!(err instanceof StepError)) throw err;
      const f = failures.get(err.failure.step.device) ?? { count: 0, reason: '' };
      failures.set(err.failure.step.device, { count: f.count + 1, reason: err.failure.reason });
    }
  }
  for (const [name, f] of failures) failed.set(name, f.reason);
  const restored: string[] = [];
  const left: { device: string; reason: string }[] = [];
  for (const [name, original] of entries) {
    const now = currentDriver(host.reader, name);
    const want = original ? original.driver : undefined;
    const ok = original === null ? !isVfioDriver(now) : now === want;
    if (ok) restored.push(name);
    else left.push({ device: name, reason: failed.get(name) ?? `${name} is on ${now ?? 'no driver'}, not ${want ?? 'its host driver'}` });
  }
  return { restored, left };
}
