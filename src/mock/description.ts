/**
 * A simulated host, as data: the format of mock-sysfs/hosts/*.json and of `vfioctl snapshot`.
 * `vfioctl mock create` materializes it into a directory tree with the kernel's layout
 * (src/mock/materialize.ts); the simulated kernel (src/mock/kernel/simulated.ts) then reacts to writes there.
 *
 * IDs are lowercase hex without 0x: vendor/device 4 digits, class 6 digits. Addresses are the kernel's
 * `DDDD:BB:SS.F`. Nothing here identifies a machine: no MAC addresses, serial numbers or hostnames.
 */
export const HOST_FORMAT = 'vfioctl-host/1';

export interface HostDescription {
  format: typeof HOST_FORMAT;
  name: string;
  summary: string;
  kernel: {
    /** What proc/sys/kernel/osrelease says. */
    release: string;
    /** Devices have a driver_override file (kernel >= 3.16). When false, tools must fall back to new_id. */
    driverOverride: boolean;
    /** sys/bus/pci/drivers_autoprobe. */
    driversAutoprobe: boolean;
    /**
     * CONFIG_VFIO_DEVICE_CDEV (>= 6.2, with IOMMUFD): a device on a vfio driver has DEV/vfio-dev/vfioN (its
     * /dev/vfio/devices/vfioN), and /dev/iommu exists (ROOT/dev/iommu, a plain file standing for the node).
     */
    vfioDeviceCdev?: boolean;
    /**
     * proc/cmdline; default `BOOT_IMAGE=/boot/vmlinuz-RELEASE ro quiet`. `pcie_acs_override=downstream,multifunction` marks the ACS override patch.
     * A snapshot records only that word (the rest is not read, and may name disks or addresses).
     */
    cmdline?: string;
    /** vfio's enable_unsafe_noiommu_mode (sys/module/vfio/parameters/...): Y when true; absent: no such file. */
    vfioNoiommu?: boolean;
    /** Groups vfio made without an IOMMU (their `name` is vfio-noiommu; the node /dev/vfio/noiommu-N). Needs vfioNoiommu. */
    noiommuGroups?: number[];
  };
  /** PCI drivers known to the kernel: loaded ones have sys/bus/pci/drivers/NAME. */
  drivers: DriverDescription[];
  devices: DeviceDescription[];
  /**
   * proc/mounts lines that matter: block-device mounts, ZFS datasets (source `rpool/ROOT/pve-1`, fstype
   * zfs), and 9p/virtiofs filesystems of a device's `sharedFs` (source: its tag). `device` names the block device behind a source that does not name one (`/dev/root`); proc/self/mountinfo
   * gives its major:minor.
   */
  mounts: { source: string; target: string; fstype: string; device?: string }[];
  /** proc/swaps entries. */
  swaps: { source: string }[];
  /** IPv4 routes (proc/net/route): destination and mask as dotted quads; '0.0.0.0'/'0.0.0.0' is the default route. */
  routes: { iface: string; destination: string; gateway: string; mask: string }[];
  /**
   * IPv6, by interface (a function's or an upper's): `addresses` those with a global address (proc/net/if_inet6
   * scope 00; materialized as documentation addresses 2001:db8::N), `defaultRoutes` those with a ::/0 route
   * (proc/net/ipv6_route). Absent: neither file has a line.
   */
  ipv6?: { addresses?: string[]; defaultRoutes?: string[] };
  /** Virtual network devices stacked on the functions' interfaces (src/mock/net-uppers.ts). Routes may go through them. */
  netUppers?: NetUpperDescription[];
  /**
   * Devices on other buses than PCI that sit in IOMMU groups (src/mock/non-pci.ts): a platform device such as
   * MSFT0101:00 or 80860F0E:00, an ARM SoC's fd500000.pcie, an AMBA device. vfioctl reports them, never moves them.
   * A snapshot records the members of each group (group-info reads the group's devices/ listing).
   */
  nonPciDevices?: NonPciDeviceDescription[];
  /** Block devices stacked on the controllers' disks, and multi-device filesystems (src/mock/storage-layers.ts). */
  storage?: StorageDescription;
  /**
   * The devices vfioctl moved and holds, from its journal (run/vfioctl/journal.json): list and group-info mark
   * them `held`, and check refuses a domain a group held for another (src/plan/ownership.ts). Materialized
   * as that journal, with no operation under way.
   */
  held?: HeldDescription[];
  /** etc/os-release, as the file says it (`ID=debian` ...): the distribution `persist` gives remedies for. Absent: no file. */
  osRelease?: string;
}

/** One device of vfioctl's journal (src/run/journal.ts JournalDevice, without the /dev/vfio nodes of --owner). */
export interface HeldDescription {
  /** A device of `devices`. */
  address: string;
  /** Its driver and driver_override before vfioctl moved it, its IDs then, and how it was moved. */
  driver: string | null;
  override: string | null;
  method: 'driver_override' | 'new_id';
  vendor: string;
  device: string;
  /** When and by which command vfioctl moved it. */
  since: string;
  by: string;
  /** The libvirt domain or network whose hook moved it. */
  owner?: { kind: 'domain' | 'network'; uuid: string; name: string };
  /** Its network interfaces then, and their operstate. */
  interfaces?: string[];
  links?: { name: string; operstate: string }[];
}

/** Buses whose devices the kernel puts in IOMMU groups: platform and AMBA, NXP's fsl-mc and AMD's cdx (each with a vfio driver), Tegra's host1x. */
export const NON_PCI_BUSES = ['platform', 'amba', 'fsl-mc', 'cdx', 'host1x'] as const;

export interface NonPciDeviceDescription {
  /** The driver core's name (not a PCI address): `MSFT0101:00`, `fd500000.pcie`. */
  name: string;
  bus: (typeof NON_PCI_BUSES)[number];
  /** The driver bound to it (a platform driver: tpm_crb, dw_dmac, vfio-platform ...), or null. */
  driver: string | null;
  iommuGroup: number | null;
}

export const NET_UPPER_KINDS = ['bridge', 'bond', 'team', 'vlan', 'macvlan', 'macvtap', 'openvswitch'] as const;

/** An upper network device, in sys/devices/virtual/net/NAME. */
export interface NetUpperDescription {
  name: string;
  kind: (typeof NET_UPPER_KINDS)[number];
  operstate: string;
  /**
   * The interfaces below it, listed before it (a function's interface or an earlier upper): the ports of a
   * bridge, bond, team or Open vSwitch datapath (each gets a `master` link), or the one link of a VLAN,
   * macvlan or macvtap.
   */
  lowers: string[];
}

export const STACKED_KINDS = ['lvm', 'crypt', 'multipath', 'dm', 'md', 'bcache'] as const;

export interface StorageDescription {
  /**
   * Block devices on other block devices, listed after what they stand on: device-mapper (name dm-N, with
   * its dm/name; kind lvm, crypt, multipath or plain dm), MD RAID (mdN), bcache (bcacheN). `slaves` are
   * the disks, partitions or stacked devices below.
   */
  stacked?: { name: string; kind: (typeof STACKED_KINDS)[number]; dmName?: string; slaves: string[] }[];
  /** ZFS pools: udev's database marks each member ID_FS_TYPE=zfs_member, ID_FS_LABEL=POOL. */
  zfsPools?: { pool: string; members: string[] }[];
  /** btrfs filesystems on several devices (sys/fs/btrfs/UUID/devices; the UUID is made up when materialized). */
  btrfs?: { devices: string[] }[];
}

export interface IdMatch {
  /** 4 hex digits or '*' (PCI_ANY_ID). */
  vendor: string;
  device: string;
  subvendor?: string;
  subdevice?: string;
  /** 6 hex digits and the mask applied to the device's class before comparing. */
  class?: string;
  classMask?: string;
  /**
   * PCI_DRIVER_OVERRIDE_DEVICE_VFIO: the entry matches only a device whose driver_override names the driver
   * (pci_match_device). The ID tables of vfio-pci variant drivers are made of these; depmod lists them in
   * modules.alias as `alias vfio_pci:...` instead of `alias pci:...`.
   */
  overrideOnly?: boolean;
}

export interface DriverDescription {
  /** The driver's name in sys/bus/pci/drivers (vfio-pci, e1000e, nvme, snd_hda_intel ...). */
  name: string;
  /** Its module (vfio_pci ...); null when built into the kernel. */
  module: string | null;
  /** loaded: registered with the PCI bus. available: a module that modprobe can load. missing: neither. */
  state: 'loaded' | 'available' | 'missing';
  /** The static ID table (pci_device_id[]) that decides which devices this driver claims on probe. */
  ids: IdMatch[];
  /**
   * The devices this driver's probe() turns away, checked in order, with the errno it returns. Absent: the
   * defaults for the driver's name (defaultProbeRefusals), so the bundled hosts need not spell out vfio-pci's.
   * A variant driver (mlx5_vfio_pci ...) states its own here.
   */
  probeRefusals?: ProbeRefusal[];
}

/**
 * One reason a probe() refuses a device: `not-endpoint` a header type other than 0 (bridges),
 * `no-iommu-group` a device without an iommu_group, `vfs-enabled` an SR-IOV PF with sriov_numvfs > 0.
 */
export interface ProbeRefusal {
  when: ProbeRefusalCase;
  /** The errno probe() returns, e.g. EINVAL. */
  errno: string;
}
export const PROBE_REFUSAL_CASES = ['not-endpoint', 'no-iommu-group', 'vfs-enabled'] as const;
export type ProbeRefusalCase = (typeof PROBE_REFUSAL_CASES)[number];

/**
 * vfio-pci's probe (drivers/vfio/pci/vfio_pci.c vfio_pci_probe, vfio_pci_core_register_device): EINVAL for a
 * header type other than normal and for a device in no IOMMU group; EBUSY for a PF whose VFs are enabled.
 * Other drivers refuse nothing in the simulation.
 */
export function defaultProbeRefusals(driver: string): ProbeRefusal[] {
  if (driver !== 'vfio-pci') return [];
  return [
    { when: 'not-endpoint', errno: 'EINVAL' },
    { when: 'no-iommu-group', errno: 'EINVAL' },
    { when: 'vfs-enabled', errno: 'EBUSY' },
  ];
}

/** The IDs a driver's table is matched against (pci_match_one_device), as a device description holds them. */
export interface MatchableIds {
  vendor: string;
  device: string;
  subsystemVendor: string;
  subsystemDevice: string;
  class: string;
}

export interface DeviceDescription extends MatchableIds {
  address: string;
  /** The upstream bridge's address; null for a device on a root bus (sys/devices/pciDDDD:BB/). */
  parent: string | null;
  /** Config-space header type (byte 0x0e, without the multifunction bit): 0 endpoint, 1 PCI bridge, 2 CardBus. */
  headerType: number;
  multifunction?: boolean;
  revision?: string;
  /** Names from pci.ids on the host a snapshot was taken of (src/mock/snapshot-names.ts); absent where it had none. */
  vendorName?: string;
  deviceName?: string;
  driver: string | null;
  driverOverride: string | null;
  iommuGroup: number | null;
  /** boot_vga exists only on VGA-class devices. */
  bootVga?: boolean;
  /** Network interfaces of this function: name and operstate. */
  net?: { name: string; operstate: string }[];
  /** Block devices behind this controller (disks and their partitions). */
  block?: { name: string; partitions?: string[] }[];
  /** SR-IOV physical function facts. */
  sriov?: { totalvfs: number; numvfs: number; driversAutoprobe: boolean };
  /**
   * DEV/reset_method (kernels >= 5.15), the kernel's methods in order: flr, af_flr, pm, bus, cxl_bus,
   * device_specific, acpi. Empty: no method (no reset_method, no reset file). Absent: ['flr'] for an endpoint,
   * ['pm'] for a bridge. DEV/reset exists when there is a method, on every kernel.
   */
  reset?: string[];
  /** For a virtual function: its PF and index (virtfnN on the PF). */
  physfn?: string;
  vfIndex?: number;
  /**
   * A virtio function (bound to virtio-pci) that serves a shared filesystem: 9p (DEV/virtioN/mount_tag) or
   * virtiofs (DEV/virtioN/tag). A mount of it has the tag as its `source` and `fstype` 9p or virtiofs.
   */
  sharedFs?: { fstype: '9p' | 'virtiofs'; tag: string };
}

/** A 9p mount_tag or virtiofs tag a description holds (what a snapshot records, what validate.ts accepts). */
export const SHARED_FS_TAG = /^[A-Za-z0-9][A-Za-z0-9_.:+@-]{0,35}$/;

/** pci_match_one_device(): each field equal or PCI_ANY_ID ('*'), and the class under the mask. */
export function idMatches(id: IdMatch, d: MatchableIds): boolean {
  const eq = (want: string | undefined, have: string): boolean => want === undefined || want === '*' || want === have;
  if (!eq(id.vendor, d.vendor) || !eq(id.device, d.device) || !eq(id.subvendor, d.subsystemVendor) || !eq(id.subdevice, d.subsystemDevice)) return false;
  if (id.class !== undefined && id.classMask !== undefined) {
    const mask = parseInt(id.classMask, 16);
    return (parseInt(d.class, 16) & mask) === (parseInt(id.class, 16) & mask);
  }
  return true;
}
