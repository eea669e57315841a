import fs from 'node:fs';
import path from 'node:path';
import type { DeviceDescription } from './description.js';

/**
 * Vendor and device names in a host description. `vfioctl snapshot` records them from the host's pci.ids, so a
 * snapshot shows names where it is read (a CI runner without pciutils): materializing it writes them as the
 * host's own pci.ids (usr/share/misc/pci.ids, the first place src/pci/ids.ts looks in a root), in pci.ids's
 * format and order: vendor lines sorted by ID, each followed by its devices, a tab before each device.
 */
export const HOST_PCI_IDS = 'usr/share/misc/pci.ids';

/** What a name may hold: printable text on one line (a tab or newline would break pci.ids's format). */
export const NAME_PATTERN = /^[^\u0000-\u001f\u007f]{1,200}$/u;

export function writeHostPciIds(root: string, devices: DeviceDescription[]): void {
  const vendors = new Map<string, { name?: string; devices: Map<string, string> }>();
  for (const d of devices) {
    if (d.vendorName === undefined && d.deviceName === undefined) continue;
    const v = vendors.get(d.vendor) ?? { devices: new Map<string, string>() };
    v.name ??= d.vendorName;
    if (d.deviceName !== undefined && !v.devices.has(d.device)) v.devices.set(d.device, d.deviceName);
    vendors.set(d.vendor, v);
  }
  if (vendors.size === 0) return;
  const lines = ['# Names recorded by vfioctl snapshot from the host it described.'];
  for (const [id, v] of [...vendors].sort(([a], [b]) => a.localeCompare(b))) {
    // A device line needs its vendor line; a vendor pci.ids did not name keeps its ID as the name.
    lines.push(`${id}  ${v.name ?? id}`);
    for (const [dev, name] of [...v.devices].sort(([a], [b]) => a.localeCompare(b))) lines.push(`\t${dev}  ${name}`);
  }
  const file = path.join(root, HOST_PCI_IDS);
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, `${lines.join('\n')}\n`);
}
