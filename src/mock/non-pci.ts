import fs from 'node:fs';
import path from 'node:path';
import { relLink } from './kernel/sim-tree.js';
import type { HostDescription } from './description.js';

/** The kernel's files of an IOMMU group, made with its first member. */
export function ensureIommuGroup(sys: string, group: number): string {
  const g = path.join(sys, 'kernel/iommu_groups', String(group));
  if (!fs.existsSync(g)) {
    fs.mkdirSync(path.join(g, 'devices'), { recursive: true });
    fs.writeFileSync(path.join(g, 'type'), 'DMA-FQ\n');
    fs.writeFileSync(path.join(g, 'reserved_regions'), '0x00000000fee00000 0x00000000feefffff msi\n');
  }
  return g;
}

/**
 * proc/cmdline, vfio's enable_unsafe_noiommu_mode parameter, and the `name` (vfio-noiommu) of the groups vfio
 * made without an IOMMU (src/host/isolation.ts reads them).
 */
export function materializeIsolation(root: string, desc: HostDescription): void {
  const k = desc.kernel;
  fs.mkdirSync(path.join(root, 'proc'), { recursive: true });
  fs.writeFileSync(path.join(root, 'proc/cmdline'), `${k.cmdline ?? `BOOT_IMAGE=/boot/vmlinuz-${k.release} ro quiet`}\n`);
  if (k.vfioNoiommu !== undefined) {
    const params = path.join(root, 'sys/module/vfio/parameters');
    fs.mkdirSync(params, { recursive: true });
    fs.writeFileSync(path.join(params, 'enable_unsafe_noiommu_mode'), k.vfioNoiommu ? 'Y\n' : 'N\n', { mode: 0o644 });
  }
  for (const g of k.noiommuGroups ?? []) fs.writeFileSync(path.join(ensureIommuGroup(path.join(root, 'sys'), g), 'name'), 'vfio-noiommu\n');
}

/**
 * Non-PCI devices (description.nonPciDevices) as the driver core lays them out: sys/devices/platform/NAME
 * with its `subsystem` link to sys/bus/BUS, its `driver` link into sys/bus/BUS/drivers/DRIVER (and the link
 * back), sys/bus/BUS/devices/NAME, and when it is behind the IOMMU, its iommu_group link, the group's
 * devices/NAME entry and the IOMMU's sys/class/iommu/iommu0/devices/NAME (iommu_device_link).
 */
export function materializeNonPci(root: string, desc: HostDescription): void {
  const sys = path.join(root, 'sys');
  for (const d of desc.nonPciDevices ?? []) {
    const dir = path.join(sys, 'devices/platform', d.name);
    fs.mkdirSync(dir, { recursive: true });
    fs.writeFileSync(path.join(dir, 'modalias'), `${d.bus}:${d.name}\n`);
    const bus = path.join(sys, 'bus', d.bus);
    fs.mkdirSync(path.join(bus, 'devices'), { recursive: true });
    relLink(bus, path.join(dir, 'subsystem'));
    relLink(dir, path.join(bus, 'devices', d.name));
    if (d.driver !== null) {
      const drv = path.join(bus, 'drivers', d.driver);
      fs.mkdirSync(drv, { recursive: true });
      relLink(drv, path.join(dir, 'driver'));
      relLink(dir, path.join(drv, d.name));
    }
    if (d.iommuGroup === null) continue;
    const g = ensureIommuGroup(sys, d.iommuGroup);
    relLink(g, path.join(dir, 'iommu_group'));
    relLink(dir, path.join(g, 'devices', d.name));
    const unit = path.join(sys, 'class/iommu/iommu0/devices');
    fs.mkdirSync(unit, { recursive: true });
    relLink(dir, path.join(unit, d.name));
  }
}
