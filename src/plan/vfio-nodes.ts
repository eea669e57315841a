import type { PciDevice } from '../pci/device.js';
import type { HostReader } from '../host/reader.js';
import { exists } from '../host/sysfs-read.js';
import { groupNode } from '../host/isolation.js';
import { isVfioDriver } from './vfio-driver.js';

/**
 * The device nodes a VM opens for a device on a vfio driver (the JSON shape of `vfio` in list and group-info):
 * its group's /dev/vfio/N (the group interface, with a VFIO container or, on iommufd kernels, the compat
 * container), and, where the kernel has CONFIG_VFIO_DEVICE_CDEV, its own /dev/vfio/devices/vfioN, named by
 * DEV/vfio-dev/vfioN when that has a device number (DEV/vfio-dev/vfioN/dev), opened together with /dev/iommu by QEMU with iommufd (libvirt's `<driver iommufd='yes'/>`).
 */
export interface VfioNodes {
  group: string | null;
  cdev: string | null;
  /** /dev/iommu exists: the kernel has IOMMUFD. */
  iommu: boolean;
}

const devIommu = new WeakMap<HostReader, boolean>();

/** Whether /dev/iommu exists, looked at once per reader (list asks for every device on a vfio driver). */
export function hasDevIommu(reader: HostReader): boolean {
  let found = devIommu.get(reader);
  if (found === undefined) devIommu.set(reader, (found = exists(reader.layout.onHost('/dev/iommu'))));
  return found;
}

/** The nodes of a device on a vfio driver; null for any other device. */
export function vfioNodes(reader: HostReader, dev: PciDevice): VfioNodes | null {
  if (!isVfioDriver(dev.driver)) return null;
  // Linux 6.1 already makes DEV/vfio-dev/vfioN (the vfio_device's struct device), with no character device
  // behind it: only with CONFIG_VFIO_DEVICE_CDEV has it a device number, so a `dev` attribute and a node
  // (found on Debian 12's 6.1 by test/vm/guest/modern.mjs).
  const cdev = (reader.deviceSubdir(dev.address, 'vfio-dev') ?? []).find((e) => /^vfio[0-9]+$/.test(e) && reader.deviceHas(dev.address, `vfio-dev/${e}/dev`));
  return {
    group: dev.iommuGroup === null ? null : groupNode(reader, dev.iommuGroup),
    cdev: cdev ? `/dev/vfio/devices/${cdev}` : null,
    iommu: hasDevIommu(reader),
  };
}
