import type { Host } from '../host/host.js';
import { readTextFile } from '../host/sysfs-read.js';
import { parseAddress } from '../pci/address.js';
import { VFIO_PCI } from '../pci/driver.js';
import { earlyDriverPaths, onRootForReading, UDEV_RULE_FILE } from './paths.js';
import type { PersistedDevice } from './record.js';

/**
 * Drivers that bind before the udev rule of the root filesystem runs, and so beat it: one built into the
 * kernel (lib/modules/RELEASE/modules.builtin) binds while the kernel starts; one the initramfs loads binds
 * before the root filesystem's udev replays the events. What can be read cheaply is read: modules.builtin,
 * and the initramfs's configuration (initramfs-tools' `modules`, dracut's `add_drivers`/`force_drivers`); the
 * initramfs image itself is not unpacked (a driver its udev loads by modalias is not seen: README, "Persistence
 * at boot"). The remedy depends on the distribution (etc/os-release) and on where the driver is.
 */
export type EarlyHow = 'built-in' | 'initramfs';

export interface EarlyDriver {
  address: string;
  driver: string;
  how: EarlyHow;
  /** The file that says so, as a host path. */
  evidence: string;
}

type Family = 'debian' | 'fedora' | 'other';

const norm = (name: string): string => name.replace(/-/g, '_');

/** The distribution family from os-release's ID and ID_LIKE, and its name for messages. */
export function distribution(root: string): { family: Family; name: string } {
  const text = readTextFile(onRootForReading(root, '/etc/os-release')) ?? readTextFile(onRootForReading(root, '/usr/lib/os-release')) ?? '';
  const field = (k: string): string => (new RegExp(`^${k}=("?)([^"\\n]*)\\1$`, 'm').exec(text)?.[2] ?? '').toLowerCase();
  const words = `${field('ID')} ${field('ID_LIKE')}`.split(/\s+/);
  const name = (new RegExp('^PRETTY_NAME=("?)([^"\\n]*)\\1$', 'm').exec(text)?.[2] ?? field('ID')) || 'this distribution';
  if (words.some((w) => w === 'debian' || w === 'ubuntu')) return { family: 'debian', name };
  if (words.some((w) => ['fedora', 'rhel', 'centos'].includes(w))) return { family: 'fedora', name };
  return { family: 'other', name };
}

/** Module names listed in modules.builtin of the host's kernel (`kernel/drivers/.../NAME.ko`), `-` as `_`. */
function builtinModules(host: Host): { names: Set<string>; file: string } | null {
  if (!host.release) return null;
  const file = `${host.reader.layout.modulesDir(host.release)}/modules.builtin`;
  const text = readTextFile(file);
  if (text === undefined) return null;
  const names = new Set(text.split('\n').map((l) => /([^/]+)\.ko$/.exec(l.trim())?.[1]).filter((n): n is string => !!n).map(norm));
  return { names, file: `/lib/modules/${host.release}/modules.builtin` };
}

/** Drivers the initramfs is configured to load: initramfs-tools' modules file, dracut's add_drivers/force_drivers. */
function initramfsDrivers(root: string): Map<string, string> {
  const found = new Map<string, string>();
  for (const hostPath of earlyDriverPaths(root)) {
    const text = readTextFile(onRootForReading(root, hostPath)) ?? '';
    if (hostPath.endsWith('/modules')) {
      for (const line of text.split('\n')) {
        const name = line.replace(/#.*/, '').trim().split(/\s+/)[0];
        if (name) found.set(norm(name), hostPath);
      }
    } else {
      for (const m of text.matchAll(/^\s*(?:add_drivers|force_drivers)\s*\+?=\s*"([^"]*)"/gm)) for (const name of m[1]!.split(/\s+/).filter(Boolean)) found.set(norm(name), hostPath);
    }
  }
  return found;
}

/** Each persisted device whose host driver binds before the rule. The host driver is the one it is on now. */
export function earlyDrivers(host: Host, devices: readonly PersistedDevice[]): EarlyDriver[] {
  const builtin = builtinModules(host);
  const initramfs = initramfsDrivers(host.root);
  const out: EarlyDriver[] = [];
  for (const d of devices) {
    const driver = host.reader.tryDevice(parseAddress(d.address))?.driver ?? null;
    if (driver === null || driver === VFIO_PCI) continue;
    if (builtin?.names.has(norm(driver))) out.push({ address: d.address, driver, how: 'built-in', evidence: builtin.file });
    else if (initramfs.has(norm(driver))) out.push({ address: d.address, driver, how: 'initramfs', evidence: initramfs.get(norm(driver))! });
  }
  return out;
}

/** The hook that puts vfio-pci and the rule into a Debian/Ubuntu initramfs. */
export const INITRAMFS_TOOLS_HOOK = [
  '#!/bin/sh',
  '# /etc/initramfs-tools/hooks/vfioctl: vfio-pci and the rule of vfioctl persist in the initramfs.',
  'PREREQ="udev"',
  'prereqs() { echo "$PREREQ"; }',
  'case "$1" in prereqs) prereqs; exit 0 ;; esac',
  '. /usr/share/initramfs-tools/hook-functions',
  'manual_add_modules vfio-pci',
  'mkdir -p "$DESTDIR/etc/udev/rules.d"',
  `cp ${UDEV_RULE_FILE} "$DESTDIR/etc/udev/rules.d/"`,
  '',
].join('\n');

/** The dracut configuration that does the same on Fedora/RHEL. */
export const DRACUT_CONF = ['# /etc/dracut.conf.d/vfioctl.conf: vfio-pci and the rule of vfioctl persist in the initramfs.', 'force_drivers+=" vfio-pci "', `install_items+=" ${UDEV_RULE_FILE} "`, ''].join('\n');

function initramfsRemedy(family: Family, name: string): string {
  if (family === 'debian') return `On ${name}, put vfio-pci and the rule into the initramfs with an initramfs-tools hook, /etc/initramfs-tools/hooks/vfioctl (chmod 755), then \`update-initramfs -u\`:\n${INITRAMFS_TOOLS_HOOK}`;
  if (family === 'fedora') return `On ${name}, put vfio-pci and the rule into the initramfs with a dracut configuration, then \`dracut -f\`:\n${DRACUT_CONF}`;
  return `Put vfio-pci and ${UDEV_RULE_FILE} into the initramfs with your initramfs generator (initramfs-tools: a hook with \`manual_add_modules vfio-pci\`; dracut: \`force_drivers+=" vfio-pci "\`), then rebuild it.`;
}

function cmdlineHowTo(family: Family, arg: string): string {
  if (family === 'debian') return `add ${arg} to GRUB_CMDLINE_LINUX_DEFAULT in /etc/default/grub, then \`update-grub\``;
  if (family === 'fedora') return `\`grubby --update-kernel=ALL --args="${arg}"\``;
  return `add ${arg} to the kernel command line in your boot loader's configuration`;
}

/** One note per early driver: what beats the rule, and what to do about it on this distribution. */
export function earlyDriverNotes(host: Host, devices: readonly PersistedDevice[]): string[] {
  const early = earlyDrivers(host, devices);
  if (early.length === 0) return [];
  const { family, name } = distribution(host.root);
  const vfioBuiltin = builtinModules(host)?.names.has(norm(VFIO_PCI)) ?? false;
  return early.map((e) => {
    const d = devices.find((x) => x.address === e.address)!;
    const ids = `${d.vendor}:${d.device}`;
    const others = host.reader
      .listAddresses()
      .map((a) => host.reader.device(a))
      .filter((o) => o.vendor === d.vendor && o.device === d.device && !devices.some((x) => x.address === o.name))
      .map((o) => o.name);
    const cmdline = `vfio-pci.ids=${ids}`;
    const lastResort = `As a last resort, ${cmdlineHowTo(family, cmdline)}: it takes every device with the IDs ${ids}, ${others.length > 0 ? `here also ${others.join(', ')}, which would lose ${e.driver} too` : 'no other device on this host now'}.`;
    if (e.how === 'initramfs') {
      return `${e.address}: its host driver ${e.driver} is loaded from the initramfs (${e.evidence}), before the rule on the root filesystem runs, so it may bind first. ${initramfsRemedy(family, name)}${lastResort}`;
    }
    const works = vfioBuiltin ? 'vfio-pci is built into this kernel too, so it can claim the IDs while the kernel starts' : `vfio-pci is a module on this kernel and loads only after ${e.driver} has bound: then only a kernel with ${e.driver} as a module helps`;
    return `${e.address}: its host driver ${e.driver} is built into the kernel (${e.evidence}): it binds the device while the kernel starts, before any udev rule or initramfs, so the rule cannot keep it off. ${lastResort} (${works}.)`;
  });
}
