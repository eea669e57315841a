import fs from 'node:fs';
import path from 'node:path';
import { InputError } from '../errors.js';
import { JOURNAL_VERSION } from '../host/journal-devices.js';
import { SIM_FORMAT, simDir, writeSimState, type SimState } from './kernel/sim-state.js';
import { createDriverDir, linkDriver, relLink } from './kernel/sim-tree.js';
import { addVfioCdev } from './kernel/vfio-cdev.js';
import { syncVfioNodes } from './kernel/vfio-dev-nodes.js';
import { formatPciUevent } from '../pci/uevent.js';
import { defaultProbeRefusals, type DeviceDescription, type HeldDescription, type HostDescription, type IdMatch } from './description.js';
import { releaseAtLeast } from '../pci/kernel-rules.js';
import { validateDescription } from './validate.js';
import { materializeLayers } from './layers.js';
import { writeHostPciIds } from './snapshot-names.js';
import { ensureIommuGroup, materializeIsolation, materializeNonPci } from './non-pci.js';

/**
 * Builds a simulated host from its description: a directory tree with the kernel's layout (real device
 * directories nested under their bridges in sys/devices, relative symlinks in sys/bus/pci/devices, driver
 * and iommu_group links, sys/class/net and sys/class/block, proc/mounts, proc/swaps, proc/net/route,
 * lib/modules) that any sysfs reader — vfioctl, lspci -A linux-sysfs, a shell loop — reads as a host, and
 * the simulated kernel's state in .vfioctl-sim/.
 */
export function materializeHost(descInput: HostDescription, dir: string): void {
  const desc = validateDescription(descInput, desc0Name(descInput));
  prepareEmptyDir(dir);
  const root = fs.realpathSync.native(dir);
  const sys = path.join(root, 'sys');
  makeSysSkeleton(sys, desc);
  for (const drv of desc.drivers) if (drv.state === 'loaded') createDriverDir(root, drv.name, drv.module);
  const dirs = materializeDevices(root, desc);
  linkVirtualFunctions(desc, dirs);
  if (desc.kernel.vfioDeviceCdev) {
    fs.mkdirSync(path.join(root, 'dev'), { recursive: true });
    fs.writeFileSync(path.join(root, 'dev', 'iommu'), '');
  }
  materializeNonPci(root, desc);
  materializeIsolation(root, desc);
  syncVfioNodes(root, desc.drivers.some((d) => d.state === 'loaded' && (d.name === 'vfio-pci' || /[-_]vfio[-_]pci$/.test(d.name))));
  writeProc(root, desc);
  writeHostPciIds(root, desc.devices);
  materializeLayers(root, desc);
  writeModules(root, desc);
  writeSimKernel(root, desc);
}

/** The directories every host has, drivers_probe and drivers_autoprobe. */
function makeSysSkeleton(sys: string, desc: HostDescription): void {
  for (const d of ['bus/pci/devices', 'bus/pci/drivers', 'kernel/iommu_groups', 'class/net', 'class/block', 'module', 'devices']) {
    fs.mkdirSync(path.join(sys, d), { recursive: true });
  }
  fs.writeFileSync(path.join(sys, 'bus/pci/drivers_probe'), '', { mode: 0o200 });
  fs.writeFileSync(path.join(sys, 'bus/pci/drivers_autoprobe'), desc.kernel.driversAutoprobe ? '1\n' : '0\n');
}

/** Numbers handed out across the host while its devices are made: SCSI hosts of controllers, virtio bus devices. */
interface DeviceCounters {
  blockHost: number;
  virtioIndex: number;
}

/** Each function's directory under its bridge, with its files, driver and group links and class devices; returns address → directory. */
function materializeDevices(root: string, desc: HostDescription): Map<string, string> {
  const sys = path.join(root, 'sys');
  const dirs = new Map<string, string>();
  const loaded = new Set(desc.drivers.filter((d) => d.state === 'loaded').map((d) => d.name));
  const counters: DeviceCounters = { blockHost: 0, virtioIndex: 0 };
  for (const dev of desc.devices) {
    const parentDir = dev.parent === null ? path.join(sys, 'devices', `pci${dev.address.slice(0, 7)}`) : dirs.get(dev.parent)!;
    const devDir = path.join(parentDir, dev.address);
    fs.mkdirSync(devDir, { recursive: true });
    dirs.set(dev.address, devDir);
    relLink(devDir, path.join(sys, 'bus/pci/devices', dev.address));
    writeAttributes(devDir, dev, desc);
    if (dev.driver !== null) {
      if (!loaded.has(dev.driver)) throw new InputError(`${dev.address} is bound to ${dev.driver}, but that driver is not loaded in the description.`);
      linkDriver(root, devDir, dev.address, dev.driver);
      addVfioCdev(root, devDir, dev.driver, desc.kernel);
    }
    if (dev.iommuGroup !== null) {
      const g = ensureIommuGroup(sys, dev.iommuGroup);
      relLink(g, path.join(devDir, 'iommu_group'));
      relLink(devDir, path.join(g, 'devices', dev.address));
    }
    materializeClassDevices(sys, devDir, dev, counters);
  }
  return dirs;
}

/**
 * A function's interfaces and disks. virtio-pci hangs each device's function off a virtio bus device,
 * DEV/virtioN (N counts up across the host): a virtio-net interface is DEV/virtioN/net/IF, a virtio-blk disk
 * DEV/virtioN/block/vdX, and a 9p or virtiofs device's tag is DEV/virtioN/mount_tag or tag.
 */
function materializeClassDevices(sys: string, devDir: string, dev: DeviceDescription, counters: DeviceCounters): void {
  const classDir = dev.vendor === '1af4' && dev.driver === 'virtio-pci' ? path.join(devDir, `virtio${counters.virtioIndex++}`) : devDir;
  fs.mkdirSync(classDir, { recursive: true });
  if (dev.sharedFs && classDir !== devDir) fs.writeFileSync(path.join(classDir, dev.sharedFs.fstype === '9p' ? 'mount_tag' : 'tag'), `${dev.sharedFs.tag}\n`, { mode: 0o444 });
  for (const n of dev.net ?? []) {
    const netDir = path.join(classDir, 'net', n.name);
    fs.mkdirSync(netDir, { recursive: true });
    fs.writeFileSync(path.join(netDir, 'operstate'), `${n.operstate}\n`);
    fs.writeFileSync(path.join(netDir, 'type'), '1\n');
    relLink(classDir, path.join(netDir, 'device')); // the function, or its virtioN
    relLink(netDir, path.join(sys, 'class/net', n.name));
  }
  for (const b of dev.block ?? []) {
    const diskDir = classDir !== devDir ? path.join(classDir, 'block', b.name) : path.join(devDir, `host${counters.blockHost++}`, 'block', b.name);
    fs.mkdirSync(diskDir, { recursive: true });
    fs.writeFileSync(path.join(diskDir, 'size'), '0\n');
    relLink(diskDir, path.join(sys, 'class/block', b.name));
    for (const p of b.partitions ?? []) {
      fs.mkdirSync(path.join(diskDir, p));
      fs.writeFileSync(path.join(diskDir, p, 'partition'), '1\n');
      relLink(path.join(diskDir, p), path.join(sys, 'class/block', p));
    }
  }
}

/** SR-IOV links (a VF's physfn, the PF's virtfnN), once every device directory exists. */
function linkVirtualFunctions(desc: HostDescription, dirs: Map<string, string>): void {
  for (const dev of desc.devices) {
    if (dev.physfn === undefined) continue;
    const vf = dirs.get(dev.address)!;
    const pf = dirs.get(dev.physfn)!;
    relLink(pf, path.join(vf, 'physfn'));
    relLink(vf, path.join(pf, `virtfn${dev.vfIndex ?? 0}`));
  }
}

/** The simulated kernel's state (.vfioctl-sim/): the description's kernel and drivers, no faults, no writes yet. */
function writeSimKernel(root: string, desc: HostDescription): void {
  const state: SimState = {
    format: SIM_FORMAT,
    host: desc.name,
    kernel: desc.kernel,
    drivers: desc.drivers.map((d) => ({
      ...d,
      ids: d.ids.map((id) => ({ ...id })),
      dynamicIds: [],
      probeRefusals: (d.probeRefusals ?? defaultProbeRefusals(d.name)).map((r) => ({ ...r })),
    })),
    faults: [],
    writes: 0,
  };
  fs.mkdirSync(simDir(root));
  writeSimState(root, state);
  fs.writeFileSync(path.join(simDir(root), 'writes.log'), '');
  fs.mkdirSync(path.join(root, 'run'), { recursive: true });
  if (desc.held) writeJournal(root, desc.held);
}

/** vfioctl's journal of the devices it holds (description.held), as src/run/journal.ts writes it, no operation under way. */
function writeJournal(root: string, held: HeldDescription[]): void {
  const devices = Object.fromEntries(held.map(({ address, ...rest }) => [address, rest]));
  fs.mkdirSync(path.join(root, 'run/vfioctl'), { recursive: true, mode: 0o700 });
  fs.writeFileSync(path.join(root, 'run/vfioctl/journal.json'), `${JSON.stringify({ version: JOURNAL_VERSION, devices, operation: null }, null, 2)}\n`, { mode: 0o600 });
}

function desc0Name(d: HostDescription): string {
  return `host description '${typeof d?.name === 'string' ? d.name : '?'}'`;
}

function prepareEmptyDir(dir: string): void {
  let entries: string[];
  try {
    entries = fs.readdirSync(dir);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') {
      fs.mkdirSync(dir, { recursive: true });
      return;
    }
    throw new InputError(`Cannot create a simulated host in ${dir}: ${code === 'ENOTDIR' ? 'it is a file' : code}.`);
  }
  if (entries.length > 0) {
    throw new InputError(`${dir} is not empty: vfioctl mock create builds a new host tree and does not write into an existing directory.`, 'Give it a new or empty directory.');
  }
}

/** The files of a device directory: IDs, class, a config space header, driver_override, boot_vga, SR-IOV, and what lspci needs. */
function writeAttributes(devDir: string, dev: DeviceDescription, desc: HostDescription): void {
  const w = (name: string, text: string | Buffer, mode = 0o444): void => fs.writeFileSync(path.join(devDir, name), text, { mode });
  w('vendor', `0x${dev.vendor}\n`);
  w('device', `0x${dev.device}\n`);
  w('subsystem_vendor', `0x${dev.subsystemVendor}\n`);
  w('subsystem_device', `0x${dev.subsystemDevice}\n`);
  w('class', `0x${dev.class}\n`);
  w('revision', `0x${dev.revision ?? '00'}\n`);
  w('config', configSpace(dev, desc), 0o644);
  // The driver core's DRIVER= line is added by linkDriver() when the device is bound (sim-tree.ts).
  w('uevent', formatPciUevent({ driver: null, vendor: dev.vendor, device: dev.device, subsystemVendor: dev.subsystemVendor, subsystemDevice: dev.subsystemDevice, class: dev.class, slot: dev.address }), 0o644);
  w('modalias', `${pciModalias(dev)}\n`);
  w('irq', '0\n');
  w('numa_node', '-1\n');
  w('enable', dev.driver ? '1\n' : '0\n', 0o644);
  w('resource', `${'0x0000000000000000 0x0000000000000000 0x0000000000000000\n'.repeat(13)}`);
  if (desc.kernel.driverOverride) w('driver_override', dev.driverOverride === null ? '(null)\n' : `${dev.driverOverride}\n`, 0o644);
  if (dev.bootVga !== undefined) w('boot_vga', dev.bootVga ? '1\n' : '0\n');
  const reset = dev.reset ?? (dev.headerType === 0 ? ['flr'] : ['pm']);
  if (reset.length > 0) {
    w('reset', '', 0o200);
    if (releaseAtLeast(desc.kernel.release, 5, 15)) w('reset_method', `${reset.join(' ')}\n`, 0o644);
  }
  if (dev.sriov) {
    w('sriov_totalvfs', `${dev.sriov.totalvfs}\n`);
    w('sriov_numvfs', `${dev.sriov.numvfs}\n`, 0o644);
    w('sriov_drivers_autoprobe', dev.sriov.driversAutoprobe ? '1\n' : '0\n', 0o644);
  }
}

/** The first 64 bytes of config space: IDs, revision, class, header type (bit 7 = multifunction), bus numbers of a bridge, subsystem IDs. */
function configSpace(dev: DeviceDescription, desc: HostDescription): Buffer {
  const c = Buffer.alloc(64);
  // A VF's Vendor and Device ID registers read 0xffff (SR-IOV 1.1, 3.4.1.1-2); the kernel takes its IDs from the PF.
  c.writeUInt16LE(dev.physfn === undefined ? parseInt(dev.vendor, 16) : 0xffff, 0);
  c.writeUInt16LE(dev.physfn === undefined ? parseInt(dev.device, 16) : 0xffff, 2);
  c.writeUInt16LE(dev.driver ? 0x0407 : 0x0400, 4);
  c.writeUInt16LE(0x0010, 6);
  c[8] = parseInt(dev.revision ?? '00', 16);
  c[9] = parseInt(dev.class.slice(4, 6), 16);
  c[10] = parseInt(dev.class.slice(2, 4), 16);
  c[11] = parseInt(dev.class.slice(0, 2), 16);
  c[0x0e] = (dev.headerType & 0x7f) | (dev.multifunction ? 0x80 : 0);
  if (dev.headerType === 1) {
    const below = descendants(dev.address, desc).map((d) => parseInt(d.address.slice(5, 7), 16));
    c[0x18] = parseInt(dev.address.slice(5, 7), 16);
    c[0x19] = below.length ? Math.min(...below) : 0;
    c[0x1a] = below.length ? Math.max(...below) : 0;
  } else {
    c.writeUInt16LE(parseInt(dev.subsystemVendor, 16), 0x2c);
    c.writeUInt16LE(parseInt(dev.subsystemDevice, 16), 0x2e);
  }
  return c;
}

function descendants(address: string, desc: HostDescription): DeviceDescription[] {
  const out: DeviceDescription[] = [];
  const walk = (a: string): void => {
    for (const d of desc.devices) {
      if (d.parent === a) {
        out.push(d);
        walk(d.address);
      }
    }
  };
  walk(address);
  return out;
}

const hexQuad = (quad: string): string =>
  quad
    .split('.')
    .map((n) => Number(n).toString(16).padStart(2, '0').toUpperCase())
    .reverse()
    .join('');

function writeProc(root: string, desc: HostDescription): void {
  const proc = path.join(root, 'proc');
  fs.mkdirSync(path.join(proc, 'net'), { recursive: true });
  fs.mkdirSync(path.join(proc, 'sys/kernel'), { recursive: true });
  fs.writeFileSync(path.join(proc, 'sys/kernel/osrelease'), `${desc.kernel.release}\n`);
  const mounts = [
    'sysfs /sys sysfs rw,nosuid,nodev,noexec,relatime 0 0',
    'proc /proc proc rw,nosuid,nodev,noexec,relatime 0 0',
    'tmpfs /run tmpfs rw,nosuid,nodev,noexec,relatime,size=1620364k,mode=755 0 0',
    ...desc.mounts.map((m) => `${m.source} ${m.target.replace(/ /g, '\\040')} ${m.fstype} rw,relatime 0 0`),
  ];
  fs.writeFileSync(path.join(proc, 'mounts'), mounts.join('\n') + '\n');
  fs.writeFileSync(
    path.join(proc, 'swaps'),
    'Filename\t\t\t\tType\t\tSize\t\tUsed\t\tPriority\n' + desc.swaps.map((s) => `${s.source.padEnd(40)}partition\t8388604\t\t0\t\t-2\n`).join(''),
  );
  const header = 'Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT\n';
  const lines = desc.routes.map((r) => {
    const flags = r.gateway === '0.0.0.0' ? '0001' : '0003';
    return `${r.iface}\t${hexQuad(r.destination)}\t${hexQuad(r.gateway)}\t${flags}\t0\t0\t100\t${hexQuad(r.mask)}\t0\t0\t0\n`;
  });
  fs.writeFileSync(path.join(proc, 'net/route'), header + lines.join(''));
  writeIpv6(proc, desc);
}

/**
 * proc/net/if_inet6 (a global address 2001:db8::N, a documentation address, for each interface of
 * ipv6.addresses) and proc/net/ipv6_route (a ::/0 route through each of ipv6.defaultRoutes); empty without.
 */
function writeIpv6(proc: string, desc: HostDescription): void {
  const addresses = desc.ipv6?.addresses ?? [];
  const inet6 = addresses.map((iface, i) => `20010db8000000000000000000${(i + 1).toString(16).padStart(6, '0')} ${(i + 2).toString(16).padStart(2, '0')} 40 00 80 ${iface}\n`);
  const routes6 = (desc.ipv6?.defaultRoutes ?? []).map(
    (iface) => `00000000000000000000000000000000 00 00000000000000000000000000000000 00 fe800000000000000000000000000001 00000400 00000001 00000000 00000003 ${iface.padStart(8)}\n`,
  );
  fs.writeFileSync(path.join(proc, 'net/ipv6_route'), routes6.join(''));
  fs.writeFileSync(path.join(proc, 'net/if_inet6'), inet6.join(''));
}

/** The kernel's modalias of a PCI function (drivers/pci/pci-sysfs.c modalias_show). */
export function pciModalias(d: { vendor: string; device: string; subsystemVendor: string; subsystemDevice: string; class: string }): string {
  const h = (s: string, n: number): string => s.toUpperCase().padStart(n, '0');
  return `pci:v${h(d.vendor, 8)}d${h(d.device, 8)}sv${h(d.subsystemVendor, 8)}sd${h(d.subsystemDevice, 8)}bc${h(d.class.slice(0, 2), 2)}sc${h(d.class.slice(2, 4), 2)}i${h(d.class.slice(4, 6), 2)}`;
}

/** One modules.alias line of a driver's ID entry, as scripts/mod/file2alias.c writes it. */
function aliasLine(id: IdMatch, module: string): string {
  const f = (v: string | undefined): string => (v === undefined || v === '*' ? '*' : v.toUpperCase().padStart(8, '0'));
  const mask = parseInt(id.classMask ?? '000000', 16);
  const cls = parseInt(id.class ?? '000000', 16);
  const byte = (shift: number): string => ((mask >> shift) & 0xff) === 0xff ? ((cls >> shift) & 0xff).toString(16).toUpperCase().padStart(2, '0') : '*';
  return `alias ${id.overrideOnly ? 'vfio_pci' : 'pci'}:v${f(id.vendor)}d${f(id.device)}sv${f(id.subvendor)}sd${f(id.subdevice)}bc${byte(16)}sc${byte(8)}i${byte(0)} ${module}`;
}

/**
 * lib/modules/RELEASE/modules.dep names every module modprobe could load (what Host.vfioState reads);
 * modules.alias their ID tables (a variant's vfio_pci: lines are what vfioctl chooses a variant from), with
 * vfio-pci's own match-all override-only entry from 5.16 on; modules.builtin every driver built into the kernel
 * (`module: null`), named by the driver (what persist reads).
 */
function writeModules(root: string, desc: HostDescription): void {
  const dir = path.join(root, 'lib/modules', desc.kernel.release);
  fs.mkdirSync(dir, { recursive: true });
  const lines = desc.drivers
    .filter((d) => d.state !== 'missing' && d.module !== null)
    .map((d) => `kernel/drivers/${d.name === 'vfio-pci' ? 'vfio/pci/vfio-pci' : `pci/${d.module}`}.ko:`);
  fs.writeFileSync(path.join(dir, 'modules.dep'), lines.join('\n') + (lines.length ? '\n' : ''));
  const aliases = desc.drivers
    .filter((d) => d.state !== 'missing' && d.module !== null)
    .flatMap((d) => [
      ...d.ids.map((id) => aliasLine(id, d.module!)),
      ...(d.name === 'vfio-pci' && releaseAtLeast(desc.kernel.release, 5, 16) ? [aliasLine({ vendor: '*', device: '*', overrideOnly: true }, d.module!)] : []),
    ]);
  fs.writeFileSync(path.join(dir, 'modules.alias'), '# Aliases extracted from modules themselves.\n' + aliases.map((l) => `${l}\n`).join(''));
  const builtin = desc.drivers.filter((d) => d.state !== 'missing' && d.module === null).map((d) => `kernel/drivers/pci/${d.name}.ko`);
  fs.writeFileSync(path.join(dir, 'modules.builtin'), builtin.join('\n') + (builtin.length ? '\n' : ''));
  if (desc.osRelease !== undefined) {
    fs.mkdirSync(path.join(root, 'etc'), { recursive: true });
    fs.writeFileSync(path.join(root, 'etc/os-release'), desc.osRelease);
  }
}
