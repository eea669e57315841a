import type { Host, ModuleState } from '../host/host.js';
import { VFIO_PCI } from '../pci/driver.js';
import type { Blocker } from './blocker.js';
import type { Move } from './vfio-driver.js';

/**
 * What loading vfio-pci would take besides the moves: the module binds, as it loads, every unbound device whose
 * driver_override already names it (docs/sysfs-semantics.md). A device of another group would end on vfio-pci
 * with no journal entry, maybe beside a group mate on a host driver; refused before any write, naming it.
 */
export function moduleLoadBlockers(moves: Move[], host: Host, vfio: ModuleState): Blocker[] {
  if (vfio !== 'available' || moves.length === 0) return [];
  const moving = new Set(moves.map((m) => m.dev.name));
  const blockers: Blocker[] = [];
  for (const addr of host.reader.listAddresses()) {
    const dev = host.reader.tryDevice(addr);
    if (!dev || moving.has(dev.name) || dev.driver !== null || dev.driverOverride !== VFIO_PCI) continue;
    blockers.push({
      kind: 'vfio-load-grab',
      device: dev.name,
      message: `Loading vfio-pci would bind ${dev.name} too: it is not bound to any driver and its driver_override already says vfio-pci, but this detach does not move it. Clear its override (echo > /sys/bus/pci/devices/${dev.name}/driver_override), assign it too, or load vfio-pci yourself (modprobe vfio-pci) if it is meant to go there.`,
    });
  }
  return blockers;
}
