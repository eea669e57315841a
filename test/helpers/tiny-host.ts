import type { DeviceDescription, HostDescription } from '../../src/mock/description.js';

/**
 * A small host described inline, for kernel-level tests that must not depend on the bundled hosts:
 * a root port on pcieport, two identical e1000e NICs behind it (the new_id hazard), a PCIe-to-PCI bridge
 * with no driver, and an ixgbe PF with one VF. `variant` adds a vfio-pci variant driver with its own probe refusals.
 */
export function tinyHost(opts: { vfio?: 'loaded' | 'available' | 'missing'; release?: string; driverOverride?: boolean; variant?: boolean } = {}): HostDescription {
  const dev = (d: Partial<DeviceDescription> & Pick<DeviceDescription, 'address' | 'vendor' | 'device' | 'class'>): DeviceDescription => ({
    parent: null,
    subsystemVendor: '8086',
    subsystemDevice: '0000',
    headerType: 0,
    driver: null,
    driverOverride: null,
    iommuGroup: null,
    ...d,
  });
  return {
    format: 'vfioctl-host/1',
    name: 'tiny',
    summary: 'a root port, two identical NICs, a bridge, a PF with a VF',
    kernel: { release: opts.release ?? '6.1.0-27-amd64', driverOverride: opts.driverOverride ?? true, driversAutoprobe: true },
    drivers: [
      { name: 'pcieport', module: null, state: 'loaded', ids: [{ vendor: '*', device: '*', class: '060400', classMask: 'ffff00' }] },
      { name: 'e1000e', module: 'e1000e', state: 'loaded', ids: [{ vendor: '8086', device: '10d3' }] },
      { name: 'ixgbe', module: 'ixgbe', state: 'loaded', ids: [{ vendor: '8086', device: '10fb' }] },
      { name: 'ixgbevf', module: 'ixgbevf', state: 'loaded', ids: [{ vendor: '8086', device: '10ed' }] },
      { name: 'vfio-pci', module: 'vfio_pci', state: opts.vfio ?? 'loaded', ids: [] },
      // A vfio-pci variant driver that, unlike vfio-pci, accepts a PF with VFs: its refusals are data.
      ...(opts.variant ? [{ name: 'mlx5_vfio_pci', module: 'mlx5_vfio_pci', state: 'loaded' as const, ids: [], probeRefusals: [{ when: 'not-endpoint' as const, errno: 'EINVAL' }] }] : []),
    ],
    devices: [
      dev({ address: '0000:00:1c.0', vendor: '8086', device: 'a110', class: '060400', headerType: 1, driver: 'pcieport', iommuGroup: 1 }),
      dev({ address: '0000:01:00.0', parent: '0000:00:1c.0', vendor: '8086', device: '10d3', class: '020000', driver: 'e1000e', iommuGroup: 2, net: [{ name: 'enp1s0', operstate: 'down' }] }),
      dev({ address: '0000:02:00.0', parent: '0000:00:1c.0', vendor: '8086', device: '10d3', class: '020000', driver: 'e1000e', iommuGroup: 3 }),
      dev({ address: '0000:00:1e.0', vendor: '8086', device: '244e', class: '060401', headerType: 1, iommuGroup: 4 }),
      dev({ address: '0000:05:00.0', vendor: '8086', device: '10fb', class: '020000', driver: 'ixgbe', iommuGroup: 5, sriov: { totalvfs: 63, numvfs: 1, driversAutoprobe: true } }),
      dev({ address: '0000:05:10.0', vendor: '8086', device: '10ed', class: '020000', driver: 'ixgbevf', iommuGroup: 6, physfn: '0000:05:00.0', vfIndex: 0 }),
    ],
    mounts: [],
    swaps: [],
    routes: [],
  };
}
