import { PciIds } from '../pci/ids.js';
import { kernelRules, type KernelRules } from '../pci/kernel-rules.js';
import { VFIO_PCI } from '../pci/driver.js';
import { HostReader, type ReaderMode } from './reader.js';
import { readOptional, readTextFile } from './sysfs-read.js';
import { HostUsage } from './usage.js';
import { VfioDrivers } from './vfio-variants.js';

export type ModuleState = 'loaded' | 'available' | 'missing';

/** Everything read-only about one host root, opened once per command. */
export class Host {
  readonly reader: HostReader;
  readonly usage: HostUsage;
  readonly ids: PciIds;
  readonly release: string | undefined;
  readonly rules: KernelRules;
  /** The host's vfio drivers: modules.alias's vfio_pci aliases and installed modules (variant choice). */
  readonly vfioDrivers: VfioDrivers;

  constructor(root: string, mode?: ReaderMode) {
    this.reader = new HostReader(root, mode);
    this.usage = new HostUsage(this.reader);
    this.ids = new PciIds(this.reader.root);
    this.release = readOptional(this.reader.layout.osRelease)?.trim() || undefined;
    this.rules = kernelRules(this.release);
    this.vfioDrivers = new VfioDrivers(this);
  }

  get root(): string {
    return this.reader.root;
  }

  /**
   * Whether vfio-pci is registered, or can be loaded: modules.dep / modules.builtin of the host's kernel
   * (lib/modules/RELEASE) name vfio-pci.ko.
   */
  vfioState(): ModuleState {
    if (this.reader.driverLoaded(VFIO_PCI)) return 'loaded';
    if (!this.release) return 'missing';
    const dir = this.reader.layout.modulesDir(this.release);
    for (const f of ['modules.dep', 'modules.builtin']) {
      const text = readTextFile(`${dir}/${f}`);
      if (text && /(^|\/)vfio-pci\.ko(\.[a-z]+)?:?\s*/m.test(text)) return 'available';
    }
    return 'missing';
  }
}
