import type { HostReader } from './reader.js';
import { readOptional } from './sysfs-read.js';

/**
 * What makes IOMMU groups not isolate devices on this host: the out-of-tree ACS override patch
 * (`pcie_acs_override=` on the kernel command line: the kernel is told that devices are isolated that the
 * hardware does not isolate), and vfio's no-IOMMU mode (`enable_unsafe_noiommu_mode`): vfio-pci then makes a
 * group without any IOMMU for a device that has none (its group's `name` is `vfio-noiommu`, its node
 * /dev/vfio/noiommu-N), and nothing stops the device's DMA.
 */
export interface Isolation {
  /** The `pcie_acs_override=...` word of proc/cmdline, or null. */
  acsOverride: string | null;
  /** sys/module/vfio/parameters/enable_unsafe_noiommu_mode is Y. */
  noiommuMode: boolean;
  /** The groups vfio made without an IOMMU (read only in no-IOMMU mode). */
  noiommuGroups: number[];
  /** How many groups the host has (counted only in no-IOMMU mode). */
  groupCount: number;
}

const cache = new WeakMap<HostReader, Isolation>();

/** Read once per reader: two small files, and in no-IOMMU mode each group's `name`. */
export function isolation(reader: HostReader): Isolation {
  const known = cache.get(reader);
  if (known) return known;
  const cmdline = readOptional(reader.layout.onHost('/proc/cmdline')) ?? '';
  const acsOverride = cmdline.split(/\s+/).find((w) => w.startsWith('pcie_acs_override=')) ?? null;
  const param = readOptional(reader.layout.onHost('/sys/module/vfio/parameters/enable_unsafe_noiommu_mode'))?.trim();
  const noiommuMode = param === 'Y' || param === '1';
  const groups = noiommuMode ? reader.listGroups() : [];
  const noiommuGroups = groups.filter((g) => readOptional(`${reader.layout.iommuGroupsDir}/${g}/name`)?.trim() === 'vfio-noiommu');
  const found = { acsOverride, noiommuMode, noiommuGroups, groupCount: groups.length };
  cache.set(reader, found);
  return found;
}

/** The node of a group: /dev/vfio/noiommu-N for a no-IOMMU group, else /dev/vfio/N. */
export function groupNode(reader: HostReader, group: number): string {
  return isolation(reader).noiommuGroups.includes(group) ? `/dev/vfio/noiommu-${group}` : `/dev/vfio/${group}`;
}

/** One sentence per reason the host's groups do not isolate devices (list, group-info and check print them first). */
export function isolationWarnings(reader: HostReader): string[] {
  const iso = isolation(reader);
  const out: string[] = [];
  if (iso.acsOverride) {
    out.push(
      `the kernel runs with ${iso.acsOverride} (the out-of-tree ACS override patch): its IOMMU groups are split where the hardware does not isolate devices, so a device given to a VM may still reach devices of other groups by peer-to-peer DMA; the groups shown do not isolate devices.`,
    );
  }
  if (iso.noiommuMode) {
    const n = iso.noiommuGroups.length;
    const groups = n === 0 ? 'none of the host\'s groups is one yet' : `${n} of the host's ${iso.groupCount} groups ${n === 1 ? 'is one' : 'are'} (${iso.noiommuGroups.join(', ')}: /dev/vfio/noiommu-N)`;
    out.push(
      `vfio runs with enable_unsafe_noiommu_mode=Y: a device without an IOMMU gets a no-IOMMU group, and ${groups}; nothing translates or confines their DMA, so they do not isolate anything: whoever opens one can reach all host memory (libvirt does not use them).`,
    );
  }
  return out;
}
