import type { Host } from '../host/host.js';
import type { Blocker } from './blocker.js';
import type { Move } from './vfio-driver.js';

/**
 * What the legacy path (kernels without driver_override, < 3.16) would take without asking: `new_id` probes at
 * once every unbound device with that ID (docs/sysfs-semantics.md, "Who binds on a probe", 4), so a device of
 * another group, or one this detach leaves alone, would end on vfio-pci with no journal entry. Refused before
 * any write, naming each such device, whatever --force says: no record would bring it back.
 */
export function newIdBlockers(moves: Move[], host: Host): Blocker[] {
  const legacy = moves.filter((m) => !m.dev.overrideSupported);
  if (legacy.length === 0) return [];
  const moving = new Set(moves.map((m) => m.dev.name));
  const ids = new Map(legacy.map((m) => [`${m.dev.vendor}:${m.dev.device}`, m]));
  const blockers: Blocker[] = [];
  for (const addr of host.reader.listAddresses()) {
    const dev = host.reader.tryDevice(addr);
    if (!dev || moving.has(dev.name) || dev.driver !== null) continue;
    const by = ids.get(`${dev.vendor}:${dev.device}`);
    if (!by) continue;
    blockers.push({
      kind: 'new-id-grab',
      device: dev.name,
      message: `${dev.name} has the same ID ${dev.vendor}:${dev.device} as ${by.dev.name} and is not bound to any driver: this kernel has no driver_override, and the new_id write that moves ${by.dev.name} would bind ${dev.name} to ${by.target} too, with nothing to bring it back. Bind ${dev.name} to its driver first (echo ${dev.name} > /sys/bus/pci/drivers_probe), or assign it too.`,
    });
  }
  return blockers;
}
