import type { HostReader } from '../host/reader.js';
import { isolation } from '../host/isolation.js';
import { readOptional } from '../host/sysfs-read.js';
import type { HostDescription } from './description.js';

/**
 * What `vfioctl snapshot` records beside the PCI functions, for the warnings and verdicts read from them
 * (src/host/isolation.ts, src/host/non-pci.ts, src/host/usage.ts): materialize.ts and non-pci.ts build each
 * back. Only what vfioctl reads, so nothing identifying: of proc/cmdline just its pcie_acs_override= word,
 * of IPv6 just which interfaces have a global address or a default route.
 */
export function snapshotIsolation(reader: HostReader): Pick<HostDescription['kernel'], 'cmdline' | 'vfioNoiommu' | 'noiommuGroups'> {
  const iso = isolation(reader);
  const out: Pick<HostDescription['kernel'], 'cmdline' | 'vfioNoiommu' | 'noiommuGroups'> = {};
  if (iso.acsOverride !== null && /^[\x21-\x7e]{1,4000}$/.test(iso.acsOverride)) out.cmdline = iso.acsOverride;
  const param = readOptional(reader.layout.onHost('/sys/module/vfio/parameters/enable_unsafe_noiommu_mode'));
  if (param !== undefined) out.vfioNoiommu = iso.noiommuMode;
  if (iso.noiommuGroups.length > 0) out.noiommuGroups = [...iso.noiommuGroups];
  return out;
}
