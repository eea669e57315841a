import type { PciDevice } from '../pci/device.js';
import { isDriverName, VFIO_PCI, type DriverName } from '../pci/driver.js';
import type { Host } from './host.js';
import { readTextFile } from './sysfs-read.js';

/**
 * vfio-pci variant drivers as the kernel's module tools list them. A variant's ID table is made with
 * PCI_DRIVER_OVERRIDE_DEVICE_VFIO (override only: it matches a device only when driver_override names it),
 * and depmod writes it to lib/modules/RELEASE/modules.alias as `alias vfio_pci:vVVVVVVVVdDDDDDDDDsv*sd*bc*sc*i* MODULE`.
 * vfio-pci's own table (kernels >= 5.16) is the same with every field a wildcard.
 */
export interface VfioAlias {
  /** The pattern after `vfio_pci:`, matched against the device's modalias after its `pci:`. */
  pattern: string;
  module: string;
}

/** The `alias vfio_pci:` lines of modules.alias, in file order. */
export function parseVfioAliases(text: string): VfioAlias[] {
  const out: VfioAlias[] = [];
  for (const line of text.split('\n')) {
    const m = /^alias\s+vfio_pci:(\S+)\s+(\S+)\s*$/.exec(line);
    if (m) out.push({ pattern: m[1]!, module: m[2]! });
  }
  return out;
}

/** fnmatch(3) without flags, for modules.alias patterns: `*`, `?` and `[...]` classes. */
export function aliasMatches(pattern: string, text: string): boolean {
  let re = '';
  for (let i = 0; i < pattern.length; i++) {
    const ch = pattern[i]!;
    if (ch === '*') re += '.*';
    else if (ch === '?') re += '.';
    else if (ch === '[') {
      const end = pattern.indexOf(']', i + 2);
      if (end < 0) re += '\\[';
      else {
        re += `[${pattern.slice(i + 1, end).replace(/^!/, '^').replace(/\\/g, '\\\\')}]`;
        i = end;
      }
    } else re += ch.replace(/[.+^${}()|\\/]/g, '\\$&');
  }
  return new RegExp(`^${re}$`).test(text);
}

export interface VariantPick {
  driver: DriverName;
  /** The alias that decided, or undefined when none matched (vfio-pci by default). */
  alias?: VfioAlias;
}

/**
 * libvirt's choice (>= 10.0.0, commit 82e2fac2, virPCIDeviceFindBestVFIOVariant in src/util/virpci.c, run only
 * without `<driver model=>`): of the `vfio_pci:` aliases matching the device's modalias, the one with the fewest
 * `*`; the first of equals in file order. libvirt compares field by field (v, d, sv, sd, bc, sc, i: a field of
 * `*` matches anything, any other must be equal); the aliases depmod writes have each field exact or `*`, for
 * which fnmatch over the whole text agrees. No alias, no modalias: vfio-pci.
 */
export function bestVariant(modalias: string | undefined, aliases: VfioAlias[]): VariantPick {
  const m = /^pci:(\S+)$/.exec(modalias?.trim() ?? '');
  if (!m) return { driver: VFIO_PCI };
  let best: VfioAlias | undefined;
  let bestStars = Infinity;
  for (const a of aliases) {
    const stars = a.pattern.split('*').length - 1;
    if (stars < bestStars && aliasMatches(a.pattern, m[1]!)) {
      best = a;
      bestStars = stars;
    }
  }
  return best && isDriverName(best.module) ? { driver: moduleDriver(best.module), alias: best } : { driver: VFIO_PCI };
}

/** The driver a module registers: vfio_pci registers vfio-pci; the variants register KBUILD_MODNAME, their module's name. */
export function moduleDriver(module: string): DriverName {
  return (module === 'vfio_pci' ? VFIO_PCI : module) as DriverName;
}

/** What the host's kernel has of vfio drivers: its modules.alias vfio_pci lines and the installed modules. */
export class VfioDrivers {
  private aliasCache: VfioAlias[] | undefined;
  private modulesText: string | undefined;

  constructor(private readonly host: Host) {}

  aliases(): VfioAlias[] {
    if (this.aliasCache === undefined) {
      const dir = this.host.release ? this.host.reader.layout.modulesDir(this.host.release) : undefined;
      this.aliasCache = dir ? parseVfioAliases(readTextFile(`${dir}/modules.alias`) ?? '') : [];
    }
    return this.aliasCache;
  }

  modalias(dev: PciDevice): string | undefined {
    return this.host.reader.deviceText(dev.address, 'modalias')?.trim() || undefined;
  }

  /** Registered now, or a module modprobe could load (modules.dep / modules.builtin name NAME.ko). */
  installed(driver: DriverName): boolean {
    if (this.host.reader.driverLoaded(driver)) return true;
    if (!this.host.release) return false;
    if (this.modulesText === undefined) {
      const dir = this.host.reader.layout.modulesDir(this.host.release);
      this.modulesText = ['modules.dep', 'modules.builtin'].map((f) => readTextFile(`${dir}/${f}`) ?? '').join('\n');
    }
    const file = driver.replace(/[-_]/g, '[-_]');
    return new RegExp(`(^|/)${file}\\.ko(\\.[a-z]+)?:?(\\s|$)`, 'm').test(this.modulesText);
  }

  /** Whether a vfio_pci alias of MODULE (the driver's name, either spelling) matches the device. */
  matchingAlias(dev: PciDevice, driver: DriverName): VfioAlias | undefined {
    const m = /^pci:(\S+)$/.exec(this.modalias(dev) ?? '');
    if (!m) return undefined;
    const mod = driver.replace(/-/g, '_');
    return this.aliases().find((a) => a.module.replace(/-/g, '_') === mod && aliasMatches(a.pattern, m[1]!));
  }
}
