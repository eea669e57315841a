import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach } from 'vitest';
import { json, runBin, type CliResult } from '../helpers/cli.js';
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
