import fs from 'node:fs';
import path from 'node:path';
import { VfioUnavailableError } from '../../errors.js';
import { isWhitelistedWrite, toHostWrite, type SysfsWrite } from '../../host/layout.js';
import type { DriverName } from '../../pci/driver.js';
import { releaseAtLeast } from '../../pci/kernel-rules.js';
import { idMatches, type DeviceDescription, type IdMatch, type MatchableIds, type ProbeRefusalCase } from '../description.js';
import { isVfioGroupNodePath, isVfioNodePath, SysfsWriteError, type Kernel } from '../../kernel/kernel.js';
import { appendWriteLog, readSimState, writeSimState, type SimDriver, type SimFault, type SimState } from './sim-state.js';
import { boundDriver, createDriverDir, deviceDir, driversDir, linkDriver, readAttr, unlinkDriver } from './sim-tree.js';
import { confined, type ConfinedTree } from './confined.js';
import { removeClassDevices, restoreClassDevices } from './class-devices.js';
import { removeDisablesSriov, removeVfs } from './sriov.js';
import { addVfioCdev, removeVfioCdev } from './vfio-cdev.js';
import { syncVfioNodes } from './vfio-dev-nodes.js';
import { groupInUse, groupOfDeviceDir, holdVfioNode } from './vfio-users.js';

/**
 * A device as the kernel sees it at a write, read from the tree: the described IDs, header type and driver
 * (as DeviceDescription names them), and the live facts a probe decides on.
 */
interface SimDevice extends MatchableIds, Pick<DeviceDescription, 'address' | 'headerType' | 'driver'> {
  dir: string;
  override: string | null;
  hasGroup: boolean;
  numvfs: number;
}

const isVfioName = (driver: string): boolean => driver === 'vfio-pci' || /[-_]vfio[-_]pci$/.test(driver);
const ADDRESS = /^[0-9a-f]{4}:[0-9a-f]{2}:[0-9a-f]{2}\.[0-7]$/;
const PAGE_SIZE = 4096;

/**
 * The mock kernel of a materialized simulated host. It reacts to each whitelisted sysfs write the way
 * Linux does (docs/sysfs-semantics.md, "Writes and their answers" and "Who binds on a probe": measured on
 * 6.1, and the kernel sources it names): it changes the tree (driver links, driver_override) and answers with
 * the kernel's errno, matching before busy, probing by the kernel's rules (override, then each registered
 * driver's dynamic and static IDs in registration order).
 * It is strict: a write it does not know is refused, never silently accepted. It writes only inside its
 * root, checked at each write (confined.ts): a directory of the tree made a symlink out of it, or a device
 * link swapped under a running command, is a HostTreeError before anything changes.
 */
export class SimulatedKernel implements Kernel {
  readonly kind = 'simulated' as const;
  readonly performed: SysfsWrite[] = [];
  private state: SimState;
  private readonly tree: ConfinedTree;

  constructor(readonly root: string) {
    this.tree = confined(root);
    this.state = readSimState(root);
  }

  write(w: SysfsWrite): void {
    if (!isWhitelistedWrite(w.hostPath)) throw new Error(`internal: refusing a write outside the whitelist: ${w.hostPath}`);
    this.state = readSimState(this.root);
    this.state.writes += 1;
    let errno: string | undefined = this.injectedFailure(w);
    if (errno === undefined) {
      try {
        this.apply(w);
      } catch (err) {
        if (!(err instanceof SysfsWriteError)) throw err;
        errno = err.errno;
      }
    }
    this.syncNodes();
    writeSimState(this.root, this.state);
    appendWriteLog(this.root, { ...toHostWrite(w), result: errno ?? 'ok' });
    if (errno !== undefined) throw new SysfsWriteError(w.hostPath, w.value, errno);
    this.performed.push(w);
    const position = this.state.writes;
    if (this.takeFault((f) => f.kind === 'crash' && f.position === position)) {
      writeSimState(this.root, this.state);
      process.kill(process.pid, 'SIGKILL');
    }
    const hold = this.takeFault((f) => f.kind === 'hold' && f.position === position);
    if (hold?.kind === 'hold') {
      writeSimState(this.root, this.state);
      holdVfioNode(this.root, hold.node, { pid: hold.pid, comm: hold.comm });
      this.state = readSimState(this.root);
    }
  }

  loadModule(name: DriverName): void {
    this.state = readSimState(this.root);
    const drv = this.state.drivers.find((d) => d.name === name);
    if (drv?.state === 'loaded') return;
    if (!drv || drv.state === 'missing') {
      throw new VfioUnavailableError(
        `${name} is not loaded and this simulated host's kernel has no ${name} module (modprobe ${name} would fail).`,
        'On a real host: install the kernel modules package that ships vfio-pci, or build the kernel with CONFIG_VFIO_PCI.',
      );
    }
    // Registering a driver: it appears in sys/bus/pci/drivers, last in the bus's list, and (drivers_autoprobe
    // = 1) attaches to every unbound device it matches: those whose override names it, above all.
    drv.state = 'loaded';
    this.state.drivers = [...this.state.drivers.filter((d) => d !== drv), drv];
    createDriverDir(this.root, drv.name, drv.module);
    // The bus flag as the tree holds it now (an admin may have written 0 to it since the host was made).
    const autoprobe = (readAttr(path.join(this.root, 'sys', 'bus', 'pci'), 'drivers_autoprobe') ?? '1').trim() !== '0';
    if (autoprobe) this.attachAll(drv);
    this.syncNodes();
    writeSimState(this.root, this.state);
  }

  /** ROOT/dev/vfio as the kernel keeps it: a group's node while a member is on a vfio driver (vfio-dev-nodes.ts). */
  private syncNodes(): void {
    syncVfioNodes(this.root, this.state.drivers.some((d) => d.state === 'loaded' && isVfioName(d.name)));
  }

  /** Changes the owner of a /dev/vfio node of the tree (a plain file), never through a symlink. */
  chown(node: string, uid: number, gid: number, mode?: number): void {
    if (!isVfioNodePath(node)) throw new Error(`internal: refusing to chown outside /dev/vfio: ${node}`);
    this.tree.chown(path.join(this.root, node), uid, gid, mode);
  }

  /**
   * The group node's open as Linux answers it: ENOENT without the node, EBUSY while a process holds the group
   * (vfio-users.ts). A `fail` fault whose path is the node makes the open answer its errno (EACCES: not root).
   */
  probeGroupNode(node: string): string | null {
    if (!isVfioGroupNodePath(node)) throw new Error(`internal: refusing to open outside /dev/vfio: ${node}`);
    this.state = readSimState(this.root);
    const refused = this.takeFault((f) => f.kind === 'fail' && f.path === node);
    if (refused?.kind === 'fail') {
      writeSimState(this.root, this.state);
      return refused.errno;
    }
    if (!fs.existsSync(path.join(this.root, node))) return 'ENOENT';
    return groupInUse(this.root, this.state, Number(/[0-9]+$/.exec(node)![0])) ? 'EBUSY' : null;
  }

  // --- the writes ------------------------------------------------------------------------------------
  private apply(w: SysfsWrite): void {
    const p = w.hostPath;
    let m: RegExpExecArray | null;
    if ((m = /^\/sys\/bus\/pci\/devices\/([^/]+)\/driver_override$/.exec(p))) return this.writeOverride(m[1]!, w.value);
    if (p === '/sys/bus/pci/drivers_probe') return this.driversProbe(w.value);
    if ((m = /^\/sys\/bus\/pci\/drivers\/([^/]+)\/(bind|unbind|new_id|remove_id)$/.exec(p))) {
      const drv = this.loadedDriver(m[1]!);
      if (!drv) throw errno('ENOENT'); // the driver's directory does not exist
      this.checkDriverDir(drv.name);
      switch (m[2]) {
        case 'bind':
          return this.bind(drv, w.value);
        case 'unbind':
          return this.unbind(drv, w.value);
        case 'new_id':
          return this.newId(drv, w.value);
        default:
          return this.removeId(drv, w.value);
      }
    }
    throw errno('ENOENT');
  }

  /** drivers/base/core.c driver_set_override(): >= PAGE_SIZE-1 is EINVAL; up to the first newline; empty clears. */
  private writeOverride(address: string, value: string): void {
    const dir = deviceDir(this.root, address);
    if (!dir || !this.state.kernel.driverOverride) throw errno('ENOENT');
    if (value.length === 0) return; // sysfs never calls the store for a zero-length write: nothing changes
    if (Buffer.byteLength(value, 'latin1') >= PAGE_SIZE - 1) throw errno('EINVAL');
    const name = value.split('\n')[0]!;
    this.tree.writeFile(path.join(dir, 'driver_override'), name.length === 0 ? '(null)\n' : `${name}\n`);
  }

  /** drivers/base/bus.c unbind_store(): ENODEV unless the device exists and is bound to this driver. */
  private unbind(drv: SimDriver, value: string): void {
    const dev = this.deviceFromValue(value);
    if (!dev || dev.driver !== drv.name) throw errno('ENODEV');
    this.refuseToBlock(dev);
    this.release(dev);
    const reclaim = this.takeFault((f) => f.kind === 'reclaim' && f.address === dev.address);
    if (reclaim?.kind === 'reclaim' && this.loadedDriver(reclaim.driver)) this.attach(dev, reclaim.driver);
  }

  /** bind_store(): the match is checked first (ENODEV), then busy (EBUSY; ENODEV on kernels <= 5.12), then the probe. */
  private bind(drv: SimDriver, value: string): void {
    const dev = this.deviceFromValue(value);
    if (!dev || !this.matches(drv, dev)) throw errno('ENODEV');
    if (dev.driver !== null) throw errno(this.busyIsEbusy() ? 'EBUSY' : 'ENODEV');
    const refused = this.probeRefusal(drv, dev);
    if (refused) throw errno(refused);
    this.attach(dev, drv.name);
  }

  /** drivers_probe_store(): unknown device ENODEV; a bound device is left alone; probe failures are not reported. */
  private driversProbe(value: string): void {
    const dev = this.deviceFromValue(value);
    if (!dev) throw errno('ENODEV');
    if (dev.driver === null) this.probe(dev);
  }

  /** pci-driver.c new_id_store(): EINVAL when unparsable; EEXIST when the driver already matches the ID; then attach. */
  private newId(drv: SimDriver, value: string): void {
    const id = parseId(value, 7);
    if (!id) throw errno('EINVAL');
    if (!id.full) {
      const probe: SimDevice = {
        address: '',
        dir: '',
        vendor: id.match.vendor,
        device: id.match.device,
        // struct pci_dev holds 16-bit subsystem IDs: PCI_ANY_ID arrives truncated to ffff.
        subsystemVendor: id.match.subvendor ?? 'ffff',
        subsystemDevice: id.match.subdevice ?? 'ffff',
        class: id.rawClass,
        headerType: 0,
        override: null,
        driver: null,
        hasGroup: true,
        numvfs: 0,
      };
      if (this.matches(drv, probe)) throw errno('EEXIST');
    }
    drv.dynamicIds.push(id.match);
    this.attachAll(drv);
  }

  /** remove_id_store(): removes a matching dynamic ID; ENODEV when there is none. Bound devices stay bound. */
  private removeId(drv: SimDriver, value: string): void {
    const id = parseId(value, 6);
    if (!id) throw errno('EINVAL');
    const want = id.match;
    const i = drv.dynamicIds.findIndex(
      (d) =>
        d.vendor === want.vendor &&
        d.device === want.device &&
        (want.subvendor === undefined || want.subvendor === '*' || d.subvendor === want.subvendor) &&
        (want.subdevice === undefined || want.subdevice === '*' || d.subdevice === want.subdevice),
    );
    if (i < 0) throw errno('ENODEV');
    drv.dynamicIds.splice(i, 1);
  }

  // --- probing ---------------------------------------------------------------------------------------
  /** __device_attach(): each registered driver in order; the first that matches and whose probe succeeds binds. */
  private probe(dev: SimDevice): void {
    for (const drv of this.state.drivers) {
      if (drv.state !== 'loaded' || !this.matches(drv, dev)) continue;
      if (this.probeRefusal(drv, dev)) continue; // really_probe() ignores the error: the next driver may try
      this.attach(dev, drv.name);
      return;
    }
  }

  /** driver_attach(): the driver takes every unbound device it matches. */
  private attachAll(drv: SimDriver): void {
    for (const address of fs.readdirSync(path.join(this.root, 'sys', 'bus', 'pci', 'devices')).sort()) {
      const dev = this.readDevice(address);
      if (!dev || dev.driver !== null || !this.matches(drv, dev)) continue;
      if (!this.probeRefusal(drv, dev)) this.attach(dev, drv.name);
    }
  }

  /** A successful probe: what the driver creates (see class-devices.ts), then the driver link. */
  private attach(dev: SimDevice, driver: string): void {
    this.checkDriverDir(driver);
    restoreClassDevices(this.root, dev.dir, dev.address, driver);
    addVfioCdev(this.root, dev.dir, driver, this.state.kernel);
    linkDriver(this.root, dev.dir, dev.address, driver);
  }

  /**
   * device_release_driver(): the driver's remove() takes its class devices (interfaces, disks) with it, and
   * a PF driver's remove() its VFs (sriov.ts).
   */
  private release(dev: SimDevice): void {
    if (dev.driver !== null) this.checkDriverDir(dev.driver);
    if (dev.driver !== null && dev.numvfs > 0 && removeDisablesSriov(dev.driver)) removeVfs(this.root, dev.dir);
    if (dev.driver !== null) removeClassDevices(this.root, dev.dir, dev.address, dev.driver);
    removeVfioCdev(this.root, dev.dir);
    unlinkDriver(this.root, dev.dir, dev.address);
  }

  /**
   * Linux's vfio driver remove() waits, uninterruptibly after the first signal, until the process holding the
   * device's group or cdev lets go (docs/sysfs-semantics.md, "A group in use"): the write never returns while
   * the VM runs. The simulation does not hang the test run: it fails the whole command as a bug of the caller.
   */
  private refuseToBlock(dev: SimDevice): void {
    const group = dev.driver !== null && isVfioName(dev.driver) ? groupOfDeviceDir(dev.dir) : null;
    if (group !== null && groupInUse(this.root, this.state, group)) {
      throw new Error(`simulated kernel: unbinding ${dev.address} from ${dev.driver} would block in Linux until the process holding IOMMU group ${group} lets go (a hang); a caller must not write it.`);
    }
  }

  /** The driver's directory, inside the root: checked before a bind or unbind changes anything. */
  private checkDriverDir(driver: string): void {
    this.tree.realDir(path.join(driversDir(this.root), driver));
  }

  /** pci_match_device(): an override naming another driver stops the match; a matching override always matches. */
  private matches(drv: SimDriver, dev: SimDevice): boolean {
    if (dev.override !== null) return dev.override === drv.name;
    // Override-only entries (a variant driver's table) never match without an override: they are skipped here.
    return drv.dynamicIds.some((id) => idMatches(id, dev)) || drv.ids.some((id) => !id.overrideOnly && idMatches(id, dev));
  }

  /** What a driver's probe() answers: the errno of its first refusal that applies (its description's probeRefusals). */
  private probeRefusal(drv: SimDriver, dev: SimDevice): string | undefined {
    return drv.probeRefusals.find((r) => refusalApplies(r.when, dev))?.errno;
  }

  /** bind of a matching, already bound device: EBUSY since 5.13, ENODEV before (docs/sysfs-semantics.md). */
  private busyIsEbusy(): boolean {
    return releaseAtLeast(this.state.kernel.release, 5, 13);
  }

  // --- reading the tree --------------------------------------------------------------------------------
  /** bus_find_device_by_name(): the exact kernel name, with at most one trailing newline. */
  private deviceFromValue(value: string): SimDevice | undefined {
    const name = value.endsWith('\n') ? value.slice(0, -1) : value;
    if (!ADDRESS.test(name)) return undefined;
    return this.readDevice(name);
  }

  private readDevice(address: string): SimDevice | undefined {
    const dir = deviceDir(this.root, address);
    if (!dir) return undefined;
    const hex = (f: string, digits: number): string => (readAttr(dir, f)?.trim() ?? '').replace(/^0x/, '').padStart(digits, '0');
    const config = fs.readFileSync(path.join(dir, 'config'));
    const override = readAttr(dir, 'driver_override')?.trim();
    return {
      address,
      dir,
      vendor: hex('vendor', 4),
      device: hex('device', 4),
      subsystemVendor: hex('subsystem_vendor', 4),
      subsystemDevice: hex('subsystem_device', 4),
      class: hex('class', 6),
      headerType: (config[0x0e] ?? 0) & 0x7f,
      override: override === undefined || override === '(null)' ? null : override,
      driver: boundDriver(dir),
      hasGroup: fs.existsSync(path.join(dir, 'iommu_group')),
      numvfs: Number(readAttr(dir, 'sriov_numvfs')?.trim() ?? 0),
    };
  }

  private loadedDriver(name: string): SimDriver | undefined {
    return this.state.drivers.find((d) => d.name === name && d.state === 'loaded');
  }

  // --- faults ----------------------------------------------------------------------------------------
  private injectedFailure(w: SysfsWrite): string | undefined {
    const f = this.takeFault(
      (x) =>
        x.kind === 'fail' &&
        (x.position === undefined || x.position === this.state.writes) &&
        (x.path === undefined || x.path === w.hostPath) &&
        (x.value === undefined || x.value === w.value),
    );
    return f?.kind === 'fail' ? f.errno : undefined;
  }

  private takeFault(pred: (f: SimFault) => boolean): SimFault | undefined {
    const i = this.state.faults.findIndex(pred);
    if (i < 0) return undefined;
    const f = this.state.faults[i]!;
    if (f.times === 'once') this.state.faults.splice(i, 1);
    return f;
  }
}

function refusalApplies(when: ProbeRefusalCase, dev: SimDevice): boolean {
  switch (when) {
    case 'not-endpoint':
      return dev.headerType !== 0;
    case 'no-iommu-group':
      return !dev.hasGroup;
    case 'vfs-enabled':
      return dev.numvfs > 0;
  }
}

function errno(code: string): SysfsWriteError {
  return new SysfsWriteError('', '', code);
}

/**
 * sscanf("%x %x %x %x %x %x %lx"): at least vendor and device; PCI_ANY_ID (ffffffff) for missing
 * subvendor/subdevice; class and mask default to 0 (match any class).
 */
function parseId(value: string, maxFields: number): { match: IdMatch; full: boolean; rawClass: string } | undefined {
  const fields = value.trim().split(/[ \t\n]+/);
  const nums: number[] = [];
  for (const f of fields.slice(0, maxFields)) {
    if (!/^(?:0[xX])?[0-9a-fA-F]{1,8}$/.test(f)) break;
    nums.push(parseInt(f.replace(/^0[xX]/, ''), 16));
  }
  if (nums.length < 2) return undefined;
  const id16 = (n: number | undefined): string | undefined => (n === undefined ? undefined : n === 0xffffffff ? '*' : n.toString(16).padStart(4, '0'));
  const match: IdMatch = { vendor: id16(nums[0])!, device: id16(nums[1])! };
  const sv = id16(nums[2]);
  const sd = id16(nums[3]);
  if (sv !== undefined && sv !== '*') match.subvendor = sv;
  if (sd !== undefined && sd !== '*') match.subdevice = sd;
  if (nums[5] !== undefined && nums[5] !== 0) {
    match.class = nums[4]!.toString(16).padStart(6, '0');
    match.classMask = nums[5].toString(16).padStart(6, '0');
  }
  return { match, full: nums.length === 7, rawClass: (nums[4] ?? 0).toString(16).padStart(6, '0') };
}
