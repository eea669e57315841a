import fs from 'node:fs';
import path from 'node:path';
import { idMatches, type HostDescription } from '../../src/mock/description.js';
import { readSimState } from '../../src/mock/kernel/sim-state.js';
import { SimulatedKernel } from '../../src/mock/kernel/simulated.js';
import type { DriverName } from '../../src/pci/driver.js';
import type { SimHost } from '../helpers/sim-host.js';

/**
 * A simulated reboot of a host that ran `vfioctl persist`: the simulated kernel comes up from the host's
 * description with only its built-in drivers registered (they bind while the kernel starts, before anything
 * else) and no VF (nothing has set sriov_numvfs yet); then udev's coldplug replays an `add` event per device in
 * the order `udevadm trigger` enumerates them (address order), each through the rule persist wrote, read from
 * the persisted root and interpreted line by line, then through Debian's 80-drivers.rules (`kmod load` of the
 * device's modalias: every module whose ID table matches it). As measured (test/vm/README.md), a rule's
 * assignments take effect while udev processes the rules, and its RUN entries run afterwards, in the order they
 * were added (60-vfioctl's before 80-drivers'). systemd-modules-load (vfio-pci) runs before the coldplug or
 * after it, as asked: boot ordering does not fix which.
 */
export interface BootOptions {
  /** modules-load.d's vfio-pci before the coldplug (else after it). */
  modulesLoadFirst: boolean;
  /** The host as it boots, when it differs from the one persisted on (a card swapped, a driver built in). */
  edit?: (d: HostDescription) => void;
}

export interface Boot {
  root: string;
  /** Lines the rule wrote to the kernel log. */
  kmsg: string[];
}

const PERSISTED = ['etc/vfioctl/persist.json', 'etc/udev/rules.d/60-vfioctl.rules', 'etc/modules-load.d/vfioctl.conf'];

/** The host as its kernel starts: module drivers not loaded, devices bound only to built-in drivers, no VF. */
export function atKernelStart(desc: HostDescription): HostDescription {
  const d = structuredClone(desc);
  const builtin = new Set(d.drivers.filter((x) => x.module === null && x.state !== 'missing').map((x) => x.name));
  d.drivers = d.drivers.map((x) => (x.module === null || x.state === 'missing' ? x : { ...x, state: 'available' }));
  d.devices = d.devices
    .filter((x) => x.physfn === undefined)
    .map((x) => ({ ...x, driver: x.driver !== null && builtin.has(x.driver) ? x.driver : null, driverOverride: null, ...(x.sriov ? { sriov: { ...x.sriov, numvfs: 0 } } : {}) }));
  return d;
}

interface Token {
  key: string;
  op: string;
  value: string;
}

/** The rule file's lines as key/operator/value tokens (the syntax persist writes; comments and blank lines dropped). */
function parseRules(text: string): Token[][] {
  return text
    .split('\n')
    .filter((l) => l.trim() && !l.startsWith('#'))
    .map((l) => [...l.matchAll(/([A-Z]+(?:\{[^}]*\})?)(==|!=|\+=|=)"((?:[^"\\]|\\.)*)"/g)].map((m) => ({ key: m[1]!, op: m[2]!, value: m[3]! })));
}

function coldplugDevice(kernel: SimulatedKernel, root: string, address: string, rules: Token[][], kmsg: string[]): void {
  const dir = path.join(root, 'sys/bus/pci/devices', address);
  const attr = (name: string): string => fs.readFileSync(path.join(dir, name), 'utf8').trim();
  const expand = (s: string): string => s.replace(/\$kernel/g, address).replace(/\$attr\{([a-z_]+)\}/g, (_m, a: string) => attr(a));
  const run: (() => void)[] = [];
  for (let i = 0; i < rules.length; i += 1) {
    const line = rules[i]!;
    const matches = line.filter((t) => t.op === '==').every((t) => {
      if (t.key === 'ACTION') return t.value === 'add';
      if (t.key === 'SUBSYSTEM') return t.value === 'pci';
      if (t.key === 'KERNEL') return t.value === address;
      const a = /^ATTR\{([a-z_]+)\}$/.exec(t.key);
      if (a) return attr(a[1]!) === t.value;
      throw new Error(`the simulated udev does not know the match ${t.key}`);
    });
    if (!matches) continue;
    let jump: string | null = null;
    for (const t of line.filter((x) => x.op !== '==')) {
      if (t.key === 'ATTR{driver_override}') kernel.write({ hostPath: `/sys/bus/pci/devices/${address}/driver_override`, value: t.value });
      else if (t.key === 'RUN{builtin}' && /^kmod load /.test(t.value)) run.push(() => kmodLoad(kernel, root, t.value.slice('kmod load '.length).split(/\s+/)));
      else if (t.key === 'RUN' && t.value.startsWith("/bin/sh -c 'h() {")) run.push(() => holdAll(kernel, root, t.value));
      else if (t.key === 'RUN' && /drivers_probe'$/.test(t.value)) run.push(() => writeIgnoringErrno(kernel, '/sys/bus/pci/drivers_probe', address));
      else if (t.key === 'RUN' && /> \/dev\/kmsg'$/.test(t.value)) {
        const text = expand(/echo (.*) > \/dev\/kmsg'$/.exec(t.value)![1]!);
        run.push(() => kmsg.push(text));
      } else if (t.key === 'GOTO') jump = t.value;
      else if (t.key === 'LABEL') continue;
      else throw new Error(`the simulated udev does not know ${t.key}${t.op}"${t.value}"`);
    }
    if (jump !== null) while (i + 1 < rules.length && !rules[i + 1]!.some((t) => t.key === 'LABEL' && t.value === jump)) i += 1;
  }
  // 80-drivers.rules: ENV{MODALIAS}=="?*", RUN{builtin}+="kmod load $env{MODALIAS}".
  run.push(() => kmodLoad(kernel, root, modaliasModules(root, address)));
  for (const r of run) r();
}

/**
 * The rule's first line, as its shell function does it: `h DIR PATTERN` writes the override of each device
 * present and unbound whose `vendor:device:subsystem_vendor:subsystem_device` matches PATTERN (`*` at the end).
 */
function holdAll(kernel: SimulatedKernel, root: string, script: string): void {
  for (const m of script.matchAll(/; h \/sys\/bus\/pci\/devices\/([0-9a-f:.]+) (\S+) 2>\/dev\/null/g)) {
    const dir = path.join(root, 'sys/bus/pci/devices', m[1]!);
    if (!fs.existsSync(dir) || fs.existsSync(path.join(dir, 'driver'))) continue;
    const ids = ['vendor', 'device', 'subsystem_vendor', 'subsystem_device'].map((f) => fs.readFileSync(path.join(dir, f), 'utf8').trim()).join(':');
    const pattern = m[2]!;
    if (pattern.endsWith('*') ? ids.startsWith(pattern.slice(0, -1)) : ids === pattern) kernel.write({ hostPath: `/sys/bus/pci/devices/${m[1]}/driver_override`, value: 'vfio-pci' });
  }
}

/** The drivers modprobe would load for a device's modalias: each module driver whose static IDs match it. */
function modaliasModules(root: string, address: string): string[] {
  const dir = path.join(root, 'sys/bus/pci/devices', address);
  const id = (f: string): string => fs.readFileSync(path.join(dir, f), 'utf8').trim().replace(/^0x/, '');
  const ids = { vendor: id('vendor'), device: id('device'), subsystemVendor: id('subsystem_vendor'), subsystemDevice: id('subsystem_device'), class: id('class') };
  return readSimState(root)
    .drivers.filter((d) => d.module !== null && d.state !== 'missing' && d.ids.some((m) => idMatches(m, ids)))
    .map((d) => d.name);
}

function kmodLoad(kernel: SimulatedKernel, root: string, names: string[]): void {
  for (const name of names) {
    const known = readSimState(root).drivers.find((d) => d.name === name || d.module === name.replace(/-/g, '_'));
    if (known && known.state !== 'missing') kernel.loadModule(known.name as DriverName);
  }
}

function writeIgnoringErrno(kernel: SimulatedKernel, hostPath: string, value: string): void {
  try {
    kernel.write({ hostPath, value });
  } catch {
    // udev logs a failed RUN and goes on
  }
}

/** Boots `desc` with the files persisted under `persistedRoot`; a fresh simulated host from `make`. */
export function simulatedBoot(make: (d: HostDescription) => SimHost, desc: HostDescription, persistedRoot: string, o: BootOptions): Boot {
  const boot = atKernelStart(desc);
  o.edit?.(boot);
  const h = make(boot);
  for (const f of PERSISTED) {
    fs.mkdirSync(path.dirname(path.join(h.root, f)), { recursive: true });
    fs.copyFileSync(path.join(persistedRoot, f), path.join(h.root, f));
  }
  const kernel = new SimulatedKernel(h.root);
  const modulesLoad = (): void => kmodLoad(kernel, h.root, fs.readFileSync(path.join(h.root, PERSISTED[2]!), 'utf8').split('\n').filter((l) => l && !l.startsWith('#')));
  const rules = parseRules(fs.readFileSync(path.join(h.root, PERSISTED[1]!), 'utf8'));
  const kmsg: string[] = [];
  if (o.modulesLoadFirst) modulesLoad();
  for (const address of fs.readdirSync(path.join(h.root, 'sys/bus/pci/devices')).sort()) coldplugDevice(kernel, h.root, address, rules, kmsg);
  if (!o.modulesLoadFirst) modulesLoad();
  return { root: h.root, kmsg };
}
