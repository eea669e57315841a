import { compareAddress } from '../pci/address.js';
import type { PciDevice } from '../pci/device.js';
import type { HostLayout, SysfsWrite } from '../host/layout.js';
import { VFIO_PCI, type DriverName } from '../pci/driver.js';
import { isVfioDriver, type Move } from './vfio-driver.js';

// The ordered writes of a detach or a reattach, as plain data (no I/O): printed by --dry-run, executed by
// src/run/execute.ts. Both are computed from the devices' current state, so running a plan twice, or
// completing an interrupted one, writes only what is still needed.

export type StepKind = 'override' | 'unbind' | 'probe' | 'bind' | 'new_id' | 'remove_id';

export interface PlanStep {
  kind: StepKind;
  device: string;
  write: SysfsWrite;
  /** Errno codes that mean "already done" for this step (EEXIST for new_id of a known ID ...). */
  tolerate?: string[];
  /** After this step, the device's driver must be this (null: unbound); checked with a bounded poll. */
  expectDriver?: string | null;
}

export type Method = 'driver_override' | 'new_id';

/**
 * How a device was bound before vfioctl first moved it: its driver and driver_override then, how vfioctl moved
 * it, and its IDs (for remove_id). The journal's per-device record; what a reattach or a rollback restores.
 */
export interface PriorBinding {
  driver: string | null;
  override: string | null;
  method: Method;
  vendor: string;
  device: string;
  /** Its network interfaces then (gone while it is on vfio-pci): how a pool named by interface finds it again. */
  interfaces?: string[];
}

export function priorBindingOf(dev: PciDevice): PriorBinding {
  return {
    driver: dev.driver,
    override: dev.driverOverride,
    method: dev.overrideSupported ? 'driver_override' : 'new_id',
    vendor: dev.vendor,
    device: dev.device,
    ...(dev.netInterfaces.length > 0 ? { interfaces: [...dev.netInterfaces] } : {}),
  };
}

/**
 * The writes of a detach, each device to its move's target driver (vfio-pci today), in this order
 * (documented in README, "What detach writes"):
 *   1. driver_override <- the target for every device to move. Nothing changes binding yet; from here on
 *      any probe, by anyone, can only bind the target, so no host driver can re-claim a member mid-way.
 *   2. unbind each device from its host driver, in reverse address order (function 0 last: an HDA audio
 *      function lets go before its GPU), and verify it is unbound.
 *   3. drivers_probe each device in address order, and verify it is on its target.
 *   A member is bound to a vfio driver only after every member to move has left its host driver, so the
 *   group never has a vfio member next to a host-driven one, and it becomes usable by a VM only at the end.
 * Kernels without driver_override (< 3.16) fall back to new_id + bind, then remove_id (docs/sysfs-semantics.md,
 * "Legacy: new_id, then bind").
 */
export function planDetachWrites(moves: Move[], layout: HostLayout): PlanStep[] {
  const sorted = [...moves].sort((a, b) => compareAddress(a.dev.address, b.dev.address));
  const modern = sorted.filter((m) => m.dev.overrideSupported);
  const legacy = sorted.filter((m) => !m.dev.overrideSupported);
  const steps: PlanStep[] = [];
  for (const { dev: d, target } of modern) {
    if (d.driverOverride !== target) steps.push({ kind: 'override', device: d.name, write: layout.writeDriverOverride(d.address, target) });
  }
  for (const { dev: d, target } of [...sorted].reverse()) {
    if (d.driver !== null && d.driver !== target) {
      // Verified too: a host driver that re-claims the device at once stops the detach here, before any member
      // is bound to the target beside one on a host driver.
      steps.push({ kind: 'unbind', device: d.name, write: layout.writeDriverControl(d.driver, 'unbind', d.address), expectDriver: null });
    }
  }
  for (const { dev: d, target } of modern) {
    if (d.driver !== target) steps.push({ kind: 'probe', device: d.name, write: layout.writeDriversProbe(d.address), expectDriver: target });
  }
  // Legacy: new_id probes every unbound device with that ID at once (analyze refuses when one outside the moves
  // exists: src/plan/new-id.ts), so the bind that follows finds the device bound already: EBUSY since 5.13,
  // ENODEV before (docs/sysfs-semantics.md); the verify decides. Then remove_id, so the dynamic ID does not
  // take a matching device probed later (bound devices stay bound).
  const ids = new Map<string, Move>();
  for (const m of legacy) {
    const { dev: d, target } = m;
    const key = `${target} ${d.vendor}:${d.device}`;
    if (!ids.has(key)) {
      ids.set(key, m);
      steps.push({ kind: 'new_id', device: d.name, write: layout.writeDriverId(target, 'new_id', d.vendor, d.device), tolerate: ['EEXIST'] });
    }
    if (d.driver !== target) {
      steps.push({ kind: 'bind', device: d.name, write: layout.writeDriverControl(target, 'bind', d.address), tolerate: ['EBUSY', 'ENODEV'], expectDriver: target });
    }
  }
  for (const { dev: d, target } of ids.values()) {
    steps.push({ kind: 'remove_id', device: d.name, write: layout.writeDriverId(target, 'remove_id', d.vendor, d.device), tolerate: ['ENODEV'] });
  }
  return steps;
}

export interface RestoreTarget {
  dev: PciDevice;
  /** null: vfioctl has no record; then the kernel's normal probe decides. */
  original: PriorBinding | null;
  /** Whether the original driver is registered now (bind to it; otherwise drivers_probe). */
  originalLoaded: boolean;
}

/**
 * Puts devices back (reattach, and rollback after a failed detach), from their current state:
 *   1. driver_override back to its original value ("\n" clears; never a zero-length write);
 *      remove_id of the dynamic ID for devices moved with new_id;
 *   2. unbind from the vfio driver the device is on (vfio-pci or a variant: isVfioDriver), and verify it is unbound,
 *      unless that is the recorded driver itself;
 *   3. bind to the recorded driver (drivers_probe when there is no record or the driver is not loaded);
 *      verify. A device that was unbound before stays unbound. The recorded driver may be a vfio driver: a device
 *      someone else had put on mlx5_vfio_pci that a detach then moved to vfio-pci goes back to mlx5_vfio_pci.
 */
export function planRestoreWrites(targets: RestoreTarget[], layout: HostLayout): PlanStep[] {
  const sorted = [...targets].sort((a, b) => compareAddress(a.dev.address, b.dev.address));
  const steps: PlanStep[] = [];
  const removedIds = new Set<string>();
  for (const { dev, original } of sorted) {
    const wantOverride = original ? overrideToRestore(original) : isVfioDriver(dev.driverOverride) ? null : dev.driverOverride;
    if (dev.overrideSupported && dev.driverOverride !== wantOverride) {
      steps.push({ kind: 'override', device: dev.name, write: layout.writeDriverOverride(dev.address, wantOverride as DriverName | null) });
    }
    if (original?.method === 'new_id') {
      const key = `${original.vendor}:${original.device}`;
      if (!removedIds.has(key)) {
        removedIds.add(key);
        // The ID was added to the vfio driver the device is on; vfio-pci once it is unbound (kernels
        // without driver_override, < 3.16, predate the variant drivers).
        const from = dev.driver !== null && isVfioDriver(dev.driver) ? dev.driver : VFIO_PCI;
        steps.push({ kind: 'remove_id', device: dev.name, write: layout.writeDriverId(from, 'remove_id', original.vendor, original.device), tolerate: ['ENODEV'] });
      }
    }
  }
  for (const { dev, original } of sorted) {
    if (leavesVfio(dev, original)) {
      // Verified, as detach's unbinds are: a device something probes back onto its vfio driver at once stops here.
      steps.push({ kind: 'unbind', device: dev.name, write: layout.writeDriverControl(dev.driver as DriverName, 'unbind', dev.address), expectDriver: null });
    }
  }
  for (const { dev, original, originalLoaded } of sorted) {
    const current = leavesVfio(dev, original) ? null : dev.driver;
    if (original === null) {
      if (current === null) steps.push({ kind: 'probe', device: dev.name, write: layout.writeDriversProbe(dev.address) });
      continue;
    }
    if (original.driver === null || current === original.driver) continue;
    if (current !== null) continue; // on some other driver now: leave it, the verify reports it
    steps.push(
      originalLoaded
        ? { kind: 'bind', device: dev.name, write: layout.writeDriverControl(original.driver as DriverName, 'bind', dev.address), expectDriver: original.driver }
        : { kind: 'probe', device: dev.name, write: layout.writeDriversProbe(dev.address), expectDriver: original.driver },
    );
  }
  return steps;
}

/** Whether a restore unbinds the device from the vfio driver it is on: always, but for the vfio driver it was recorded on. */
function leavesVfio(dev: PciDevice, original: PriorBinding | null): boolean {
  return dev.driver !== null && isVfioDriver(dev.driver) && dev.driver !== original?.driver;
}

/**
 * The driver_override a restore writes back: the recorded one, except for a device recorded on a variant vfio driver
 * with none (its override cleared after the bind): a variant's ID table matches only a device whose override names
 * it (pci_match_device, as src/mock/kernel/simulated.ts models it), so the override names the variant again, or its
 * bind would fail with ENODEV.
 */
function overrideToRestore(original: PriorBinding): string | null {
  const variant = original.driver !== null && original.driver !== VFIO_PCI && isVfioDriver(original.driver);
  return variant && original.override === null ? original.driver : original.override;
}
