import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, expect } from 'vitest';
import { BIN, json, runBin, type CliResult } from '../helpers/cli.js';
import { makeSimulatedHost, type SimHost } from '../helpers/sim-host.js';

/**
 * libvirt as the hook sees it, on a simulated host: a temp libvirt configuration directory, vfioctl's hook
 * installed into it by `vfioctl hook install`, and the installed script itself run with `sh`, libvirt's four
 * arguments, the XML on stdin, and libvirt's minimal environment (docs/hooks.rst of libvirt: LC_ALL, PATH,
 * HOME, USER, LOGNAME; here PATH has no node on purpose) plus VFIOCTL_ROOT.
 */
const made: (() => void)[] = [];
afterEach(() => {
  while (made.length) made.pop()!();
});

export function simHost(name: string): SimHost {
  const h = makeSimulatedHost(name);
  made.push(h.cleanup);
  return h;
}

export function libvirtDir(): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vfioctl-libvirt-'));
  made.push(() => fs.rmSync(dir, { recursive: true, force: true }));
  fs.mkdirSync(path.join(dir, 'etc-libvirt'));
  return path.join(dir, 'etc-libvirt');
}

/** A libvirt directory with vfioctl's hooks installed; returns the paths of the two scripts. */
export function installed(): { dir: string; qemu: string; network: string } {
  const dir = libvirtDir();
  const r = runBin(['hook', 'install', '--libvirt-dir', dir]);
  if (r.code !== 0) throw new Error(`hook install failed: ${r.stderr}`);
  return { dir, qemu: path.join(dir, 'hooks', 'qemu.d', 'vfioctl'), network: path.join(dir, 'hooks', 'network.d', 'vfioctl') };
}

/** Runs an installed hook script as libvirt does. */
export function callHook(script: string, args: string[], stdin: string, root: string, env: NodeJS.ProcessEnv = {}): CliResult {
  const r = spawnSync('/bin/sh', [script, ...args], {
    input: stdin,
    encoding: 'utf8',
    env: { LC_ALL: 'C', PATH: '/usr/sbin:/usr/bin:/sbin:/bin:/nonexistent-no-node', HOME: '/root', USER: 'root', LOGNAME: 'root', VFIOCTL_ROOT: root, VFIOCTL_PCI_IDS: '', ...env },
    timeout: 60_000,
  });
  if (r.error) throw r.error;
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

/** Every device's driver, read through vfioctl list --json. */
export function drivers(root: string): Record<string, string | null> {
  const { groups } = json(runBin(['list', '--json', '--root', root]));
  return Object.fromEntries(groups.flatMap((g: any) => g.devices.map((d: any) => [d.address, d.driver])));
}

export function journalDevices(root: string): Record<string, any> {
  const file = path.join(root, 'run', 'vfioctl', 'journal.json');
  return fs.existsSync(file) ? JSON.parse(fs.readFileSync(file, 'utf8')).devices : {};
}

/** qemu-q35-iommu: IOMMU group 10 holds two e1000 NICs (0000:02:01.0, 0000:02:02.0) behind a PCIe-to-PCI bridge. */
const BRIDGE_NICS = ['0000:02:01.0', '0000:02:02.0'] as const;

/** Both e1000 NICs of qemu-q35-iommu's bridge group are on vfio-pci. */
export function expectBridgeGroupOnVfio(root: string): void {
  const now = drivers(root);
  expect(BRIDGE_NICS.map((a) => now[a])).toEqual(['vfio-pci', 'vfio-pci']);
}

/** Both NICs of the bridge group are back on e1000 and the journal holds nothing. */
export function expectBridgeGroupGivenBack(root: string): void {
  const now = drivers(root);
  expect(BRIDGE_NICS.map((a) => now[a])).toEqual(['e1000', 'e1000']);
  expect(journalDevices(root)).toEqual({});
}

export interface DomainSpec {
  name: string;
  uuid: string;
  /** Host PCI addresses, each a <hostdev managed='yes'>. */
  hostdevs: string[];
  group?: 'auto' | 'manual';
}

/** A domain as libvirt hands it to its hooks: live XML with <uuid>, ids and aliases. */
export function domainXml(d: DomainSpec): string {
  const devs = d.hostdevs
    .map((a, i) => {
      const [dom, bus, sf] = a.split(':') as [string, string, string];
      const [slot, fn] = sf.split('.') as [string, string];
      const driver = d.group ? `<driver name='vfio' group='${d.group}'/>` : `<driver name='vfio'/>`;
      return `    <hostdev mode='subsystem' type='pci' managed='yes'>
      ${driver}
      <source>
        <address domain='0x${dom}' bus='0x${bus}' slot='0x${slot}' function='0x${fn}'/>
      </source>
      <alias name='hostdev${i}'/>
      <address type='pci' domain='0x0000' bus='0x00' slot='0x0${i + 3}' function='0x0'/>
    </hostdev>`;
    })
    .join('\n');
  return `<domain type='qemu' id='1'>
  <name>${d.name}</name>
  <uuid>${d.uuid}</uuid>
  <memory unit='KiB'>65536</memory>
  <vcpu placement='static'>1</vcpu>
  <os><type arch='x86_64' machine='pc-q35-7.2'>hvm</type></os>
  <devices>
    <emulator>/usr/bin/qemu-system-x86_64</emulator>
    <controller type='usb' index='0' model='none'/>
${devs}
    <memballoon model='none'/>
  </devices>
</domain>
`;
}

/** bin/vfioctl with `input` on its standard input (`vfioctl metadata -`, as a user pipes a file before defining it). */
export function runBinWithInput(args: string[], input: string): CliResult {
  const r = spawnSync(process.execPath, [BIN, ...args], { input, encoding: 'utf8', env: { ...process.env, NO_COLOR: '1', VFIOCTL_PCI_IDS: '' }, timeout: 60_000 });
  if (r.error) throw r.error;
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

/**
 * Real virsh on libvirt's test driver (test:///default, in-process: it forgets everything between invocations,
 * so one invocation runs every command, separated by ';'). It parses and formats XML with libvirt's own code:
 * what it prints after `define` and `start` is what libvirt keeps, and what it hands a hook. virsh is required
 * (.ci/run installs libvirt-clients), as in test/cli/metadata.test.ts.
 */
export function virsh(commands: string): string {
  const r = spawnSync('virsh', ['-q', '-c', 'test:///default', commands], { encoding: 'utf8', timeout: 30_000 });
  if (r.error) throw new Error(`virsh could not run (${r.error.message}): these tests need libvirt-clients (Debian: apt-get install libvirt-clients).`);
  if (r.status !== 0) throw new Error(`virsh '${commands}' failed (exit ${r.status}): ${r.stderr}`);
  return r.stdout;
}

/** Writes `text` to a file in a temp directory removed after the test; returns its path. */
export function tempXml(name: string, text: string): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vfioctl-xml-'));
  made.push(() => fs.rmSync(dir, { recursive: true, force: true }));
  const file = path.join(dir, name);
  fs.writeFileSync(file, text);
  return file;
}

/**
 * The domain XML libvirt hands the qemu hook at `prepare begin`: `text` defined with real virsh (libvirt drops
 * `<driver group=>` there, and keeps vfioctl's <metadata>), `then` (more virsh commands, e.g. `metadata …`),
 * started, and dumped live.
 */
export function liveDomainXml(text: string, name: string, then = ''): string {
  return virsh(`define ${tempXml(`${name}.xml`, text)}; ${then ? `${then}; ` : ''}start ${name}; dumpxml ${name}`);
}

/** The hostdev network of the network-hook tests: a pool of one NIC of qemu-q35-iommu's bridge group. */
export const POOL_NET = { name: 'passthrough-pool', uuid: 'afca425a-2c3a-420c-b2fb-dd7b4950d722' };

/** That network's XML, with `driver` (a <driver …/> element, or '') in its <forward>. */
export function poolNetworkXml(driver: string): string {
  return `<network>
  <name>${POOL_NET.name}</name>
  <uuid>${POOL_NET.uuid}</uuid>
  <forward mode='hostdev' managed='yes'>
    ${driver}
    <address type='pci' domain='0x0000' bus='0x02' slot='0x01' function='0x0'/>
  </forward>
</network>
`;
}
