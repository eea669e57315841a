import { VFIO_PCI, type DriverName } from '../pci/driver.js';
import type { PciDevice } from '../pci/device.js';
import { bestVariant, type VfioDrivers } from '../host/vfio-variants.js';

// Which vfio driver: the one place that knows. Planning, writing, verifying and restoring all ask here,
// so a variant driver (mlx5_vfio_pci, hisi_acc_vfio_pci, ...) counts wherever vfio-pci does.

/** vfio-pci itself and its variant drivers (mlx5_vfio_pci, hisi_acc_vfio_pci, ...). */
export function isVfioDriver(driver: string | null | undefined): boolean {
  return driver === VFIO_PCI || (typeof driver === 'string' && /[-_]vfio[-_]pci$/.test(driver));
}

/** A device a detach moves, and the vfio driver it moves to. */
export interface Move {
  dev: PciDevice;
  target: DriverName;
}

/** The `<driver model=>` of the assignment that names a device, and where it is written. */
export interface ModelRequest {
  model: string;
  /** "<driver model='mlx5_vfio_pci'/> at vm.xml:12" */
  where: string;
}

/** The vfio driver chosen for one device and the sentence that says why; or why none can be. */
export type VfioChoice =
  | { ok: true; driver: DriverName; why: string; variant: boolean }
  | { ok: false; kind: 'model-mismatch' | 'model-missing'; message: string };

/**
 * The vfio driver a detach binds this device to, as libvirt >= 10.0 chooses it (virhostdev.c): the model the
 * XML names (`vfio-pci` forces the generic driver), else the `vfio_pci:` alias of modules.alias that matches
 * the device's modalias with the fewest wildcards, else vfio-pci. A named model that is not installed, or whose
 * aliases do not match the device, is refused here, before any write (libvirt would bind it anyway).
 */
export function targetDriver(dev: PciDevice, drivers: VfioDrivers, request?: ModelRequest): VfioChoice {
  if (request) return namedModel(dev, drivers, request);
  // Without a variant's alias on the host, vfio-pci, and no modalias to read (list plans every group).
  if (!drivers.aliases().some((a) => a.module !== 'vfio_pci')) return { ok: true, driver: VFIO_PCI, why: 'no vfio_pci variant alias in modules.alias', variant: false };
  const pick = bestVariant(drivers.modalias(dev), drivers.aliases());
  if (!pick.alias || pick.driver === VFIO_PCI) {
    return { ok: true, driver: VFIO_PCI, why: pick.alias ? 'only the generic vfio_pci alias matches it' : 'no vfio_pci variant alias in modules.alias matches it', variant: false };
  }
  return {
    ok: true,
    driver: pick.driver,
    why: `the vfio_pci alias '${pick.alias.pattern}' of ${pick.alias.module} in modules.alias matches its modalias with the fewest wildcards (as libvirt >= 10.0 picks)`,
    variant: true,
  };
}

function namedModel(dev: PciDevice, drivers: VfioDrivers, { model, where }: ModelRequest): VfioChoice {
  const driver = model as DriverName;
  if (driver === VFIO_PCI) return { ok: true, driver, why: `${where} asks for the generic driver`, variant: false };
  if (!isVfioDriver(driver)) {
    return { ok: false, kind: 'model-mismatch', message: `${where}: '${model}' is not a vfio-pci variant driver (their names end in _vfio_pci), so it cannot take ${dev.name} for VFIO.` };
  }
  if (!drivers.installed(driver)) {
    return { ok: false, kind: 'model-missing', message: `${where}: ${model} is neither loaded nor installed for this kernel (no ${model}.ko in modules.dep), so ${dev.name} cannot be bound to it. Install the module, or write model='vfio-pci'.` };
  }
  if (!drivers.matchingAlias(dev, driver)) {
    const modalias = drivers.modalias(dev) ?? 'none';
    return {
      ok: false,
      kind: 'model-mismatch',
      message: `${where}: ${model} does not support ${dev.name} (${dev.vendor}:${dev.device}): none of its vfio_pci aliases in modules.alias matches the device's modalias ${modalias}. Name the variant made for this device, or write model='vfio-pci'.`,
    };
  }
  return { ok: true, driver, why: `${where} names it, and its vfio_pci alias matches the device`, variant: true };
}

/**
 * The sentence for a detach with nothing to move: every device it would move is on a vfio driver already,
 * named when one is a variant (a device on mlx5_vfio_pci is not on vfio-pci). `drivers`: theirs.
 */
export function alreadyOnVfio(drivers: readonly (string | null)[]): string {
  const named = [...new Set(drivers.filter((d): d is string => d !== null && isVfioDriver(d)))].sort();
  if (named.length === 0 || (named.length === 1 && named[0] === VFIO_PCI)) return 'Nothing to do: every device is already on vfio-pci.';
  return `Nothing to do: every device is already on a vfio driver (${named.join(', ')}).`;
}
