import type { Host } from '../host/host.js';
import { parseSysfsAddress } from '../pci/address.js';
import { hostNeeds } from '../plan/host-needs.js';
import { isVfioDriver } from '../plan/vfio-driver.js';
import type { PriorBinding } from '../plan/writes.js';

export interface RestoreScope {
  /** The devices to put back, each with its record (null: none, the kernel's probe decides). */
  entries: [string, PriorBinding | null][];
  /** Journal devices left alone and to be dropped from it: gone from the bus, or never moved by vfioctl. */
  dropped: string[];
  notes: string[];
}

/**
 * Which recorded devices a reattach or a rollback may touch, decided from the live tree before any write:
 * - a device no longer on the PCI bus (hot-unplugged) is said to be gone and dropped, so it cannot block the rest;
 * - a device whose state does not show vfioctl's move (not on a vfio driver, no vfio override, not left
 *   unbound mid-move) was never moved by vfioctl (a stale or foreign journal): writing its "original"
 *   override could take a device the host needs (the controller holding /), so it is left alone, with
 *   what the host needs it for, and dropped.
 */
export function restoreScope(host: Host, recorded: [string, PriorBinding | null][]): RestoreScope {
  const scope: RestoreScope = { entries: [], dropped: [], notes: [] };
  for (const [name, original] of recorded) {
    const addr = parseSysfsAddress(name);
    if (!addr) continue;
    host.reader.invalidate(addr);
    const dev = host.reader.tryDevice(addr);
    if (!dev) {
      scope.dropped.push(name);
      scope.notes.push(`${name} is no longer on the PCI bus (removed or hot-unplugged): dropped from the journal.`);
      continue;
    }
    const moved = original === null || isVfioDriver(dev.driver) || isVfioDriver(dev.driverOverride) || (dev.driver === null && original.driver !== null);
    if (moved) {
      scope.entries.push([name, original]);
      if (original && unblocked(original) !== original) {
        scope.notes.push(`${name}: its driver_override '${original.override}' (found before vfioctl moved it) would keep ${original.driver} from binding, so it is cleared.`);
      }
      continue;
    }
    const needs = hostNeeds(dev, host.usage.of(dev));
    const override = dev.driverOverride ? ` (driver_override ${dev.driverOverride})` : '';
    scope.dropped.push(name);
    scope.notes.push(
      `${name} is on ${dev.driver ?? 'no driver'}${override}, not on vfio-pci: vfioctl did not move it (a stale or foreign journal entry), so it was left alone${needs.length > 0 ? ` (the host needs it: ${needs.join('; ')})` : ''} and dropped from the journal.`,
    );
  }
  return scope;
}

/**
 * The binding to restore: the recorded one, except a driver_override that would keep the recorded driver
 * from binding (set by someone else while the device was on its host driver, say) is cleared instead, or
 * the bind would fail with ENODEV on every reattach.
 */
export function unblocked(original: PriorBinding): PriorBinding {
  if (original.driver === null || original.override === null || original.override === original.driver) return original;
  return { ...original, override: null };
}
