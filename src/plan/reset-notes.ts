import type { Host } from '../host/host.js';
import { readReset } from '../host/reset.js';
import { formatAddress } from '../pci/address.js';
import type { Move } from './vfio-driver.js';

/**
 * Warnings for the endpoints a detach assigns whose reset will not go well: no reset method at all (the next
 * user of the device, guest or host, gets it in whatever state the last left it), or only `bus`, a secondary
 * bus reset, while other functions sit on the same bus (they are reset with it). An AMD GPU is named: many of
 * them fail to reset between VM runs, which the out-of-tree vendor-reset module works around.
 */
export function resetNotes(moves: Move[], host: Host): string[] {
  const notes: string[] = [];
  let all: string[] | undefined;
  for (const { dev } of moves) {
    const r = readReset(host.reader, dev, host.release);
    const amdGpu = dev.vendor === '1002' && dev.class.startsWith('03') && !r.methods?.includes('device_specific');
    const amd = amdGpu ? ' It is an AMD GPU: many of them fail to reset between VM runs; the vendor-reset module (out of tree) adds a device_specific reset for them.' : '';
    if (!r.resettable) {
      notes.push(`${dev.name} has no reset method (its reset_method is empty): the VM gets it, and the host gets it back, in whatever state its last user left it.${amd}`);
      continue;
    }
    if (r.methods?.length === 1 && r.methods[0] === 'bus') {
      all ??= host.reader.listAddresses().map(formatAddress);
      const prefix = dev.name.slice(0, 8); // DDDD:BB:
      const others = all.filter((a) => a.startsWith(prefix) && a !== dev.name);
      if (others.length > 0) {
        notes.push(`${dev.name} can only be reset by a bus reset, which also resets ${others.join(', ')} on the same bus.${amd}`);
        continue;
      }
    }
    if (amd) notes.push(`${dev.name}:${amd}`);
  }
  return notes;
}
