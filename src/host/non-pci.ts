import path from 'node:path';
import { HostTreeError, printable } from '../errors.js';
import { isDriverName } from '../pci/driver.js';
import { listDir, readLinkWithin, realPathWithin } from './sysfs-read.js';

/**
 * A member of an IOMMU group that is not a PCI function: a platform device (an ACPI-enumerated one such as
 * MSFT0101:00 or 80860F0E:00, or an ARM SoC's fd500000.pcie), an AMBA device... The kernel lists it in
 * sys/kernel/iommu_groups/N/devices beside the PCI functions; vfioctl reports it and never moves it.
 */
export interface NonPciMember {
  name: string;
  /** Its bus (the basename of its `subsystem` link: platform, amba ...), or null without one. */
  bus: string | null;
  /** The driver bound to it (the basename of its `driver` link), or null. */
  driver: string | null;
}

/** A device name as the driver core gives it: no '/', printable, not '.' or '..'. */
const DEVICE_NAME = /^[A-Za-z0-9_][A-Za-z0-9_.:+@-]{0,127}$/;

/**
 * Reads the non-PCI member `name` through `entry`, a link to its directory (the group's devices/NAME, or an
 * IOMMU's devices/NAME in sys/class/iommu). The directory must be inside sys/devices, its driver and
 * subsystem links inside sys/bus; anything else is a HostTreeError naming the entry.
 */
export function readNonPciMember(entry: string, name: string, realRoot: string): NonPciMember {
  return readAt(entry, name, realRoot).member;
}

function readAt(entry: string, name: string, realRoot: string): { member: NonPciMember; dir: string } {
  const sys = path.join(realRoot, 'sys');
  const notDevice = (): HostTreeError =>
    new HostTreeError(`${path.relative(realRoot, path.dirname(entry))} holds '${printable(name)}', which is not a PCI address nor a link to a device in sys/devices.`);
  if (!DEVICE_NAME.test(name) || name === '.' || name === '..') throw notDevice();
  let dir: string | undefined;
  try {
    dir = readLinkWithin(entry, realRoot, path.join(sys, 'devices'));
  } catch (err) {
    if (err instanceof HostTreeError) throw notDevice();
    throw err;
  }
  if (dir === undefined) throw notDevice();
  const real = realPathWithin(dir, path.join(sys, 'devices'));
  if (real === undefined) throw notDevice();
  const bus = path.join(sys, 'bus');
  const base = (link: string): string | null => {
    const t = readLinkWithin(`${real}/${link}`, realRoot, bus);
    if (t === undefined) return null;
    const b = path.basename(t);
    if (!isDriverName(b) || b === '.' || b === '..') throw new HostTreeError(`The ${link} link of ${name} names '${printable(b, 40)}', which is not a valid name.`);
    return b;
  };
  return { member: { name, bus: base('subsystem'), driver: base('driver') }, dir: real };
}

/**
 * Every non-PCI device behind an IOMMU, by group, for `list`: the IOMMUs in sys/class/iommu each list the
 * devices they translate for in devices/ (iommu_device_link), a listing per IOMMU instead of one per group.
 * PCI functions there are skipped by name (the scan has them).
 */
export function nonPciByGroup(realRoot: string, isPciName: (name: string) => boolean): Map<number, NonPciMember[]> {
  const out = new Map<number, NonPciMember[]>();
  const classDir = path.join(realRoot, 'sys', 'class', 'iommu');
  for (const unit of listDir(classDir) ?? []) {
    for (const name of (listDir(`${classDir}/${unit}/devices`) ?? []).sort()) {
      if (isPciName(name)) continue;
      const entry = `${classDir}/${unit}/devices/${name}`;
      const { member, dir } = readAt(entry, name, realRoot);
      const groupLink = readLinkWithin(`${dir}/iommu_group`, realRoot, path.join(realRoot, 'sys', 'kernel', 'iommu_groups'));
      const group = groupLink === undefined ? NaN : Number(path.basename(groupLink));
      if (!Number.isInteger(group)) continue; // behind an IOMMU, in no group (yet)
      const list = out.get(group) ?? [];
      if (!list.some((m) => m.name === name)) list.push(member);
      out.set(group, list);
    }
  }
  return out;
}

/** Why a non-PCI member keeps its group from being viable (bound to a driver that is not a vfio one), or null. */
export function nonPciBlocker(m: NonPciMember): string | null {
  if (m.driver === null || /^vfio[-_]/.test(m.driver)) return null;
  return `a non-PCI ${m.bus ?? ''}${m.bus ? ' ' : ''}device bound to ${m.driver}, which vfioctl does not move`;
}
