import type { HostReader } from '../host/reader.js';
import { NON_PCI_BUSES, type NonPciDeviceDescription } from './description.js';

/**
 * The members of IOMMU groups that are not PCI functions, as the groups list them (what group-info reads),
 * in group and name order. A member on a bus a description cannot hold is left out, and named in `omitted`.
 */
export function snapshotNonPci(reader: HostReader, omitted: string[]): NonPciDeviceDescription[] {
  const out: NonPciDeviceDescription[] = [];
  for (const group of reader.listGroups()) {
    for (const m of reader.groupNonPci(group).sort((a, b) => (a.name < b.name ? -1 : 1))) {
      const bus = NON_PCI_BUSES.find((b) => b === m.bus);
      if (bus !== undefined) out.push({ name: m.name, bus, driver: m.driver, iommuGroup: group });
      else omitted.push(`${m.name} in IOMMU group ${group} is left out: it is on ${m.bus === null ? 'no bus' : `the ${m.bus} bus`}, and a description holds non-PCI devices on ${NON_PCI_BUSES.join(', ')} only; checks of that group against the snapshot miss it.`);
    }
  }
  return out;
}
