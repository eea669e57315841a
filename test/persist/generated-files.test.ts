import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { generatedFiles } from '../../src/persist/generate.js';
import type { PersistedDevice } from '../../src/persist/record.js';
import { verifyUnit } from '../../src/persist/systemd-unit.js';
import { isUnderRoot } from '../../src/persist/store.js';
import { udevRule } from '../../src/persist/udev-rule.js';

/**
 * The generated files as udev and systemd read them. `udevadm test` is not used: it would run the rule against
 * this machine's own PCI devices (and write their attributes); udev 252 has no `udevadm verify`. So each line of
 * the rule is checked against udev's grammar (udev(7): KEY[{attr}] OP "value", comma-separated), and the unit
 * is given to `systemd-analyze verify`, which loads it without starting anything.
 */
const dirs: string[] = [];
afterAll(() => dirs.forEach((d) => fs.rmSync(d, { recursive: true, force: true })));
const tmp = (prefix: string): string => {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  dirs.push(d);
  return d;
};

const dev = (address: string, over: Partial<PersistedDevice> = {}): PersistedDevice => ({
  address,
  vendor: '10de',
  device: '2204',
  subsystemVendor: '1462',
  subsystemDevice: '3881',
  group: 1,
  mode: 'auto',
  source: { file: '/etc/libvirt/qemu/win11.xml', kind: 'domain', name: 'win11' },
  since: '2026-12-02T00:00:00.000Z',
  ...over,
});

const MATCH_KEYS = /^(ACTION|SUBSYSTEM|KERNEL|ATTR\{(vendor|device|subsystem_vendor|subsystem_device)\})==$/;
const ASSIGN_KEYS = /^(ATTR\{driver_override\}=|RUN\{builtin\}\+=|RUN\+=|GOTO=)$/;

/** A rule line as udev splits it: KEY OP "VALUE" pairs; throws on anything udev would not parse. */
function ruleKeys(line: string): [string, string][] {
  const pairs: [string, string][] = [];
  const re = /\s*([A-Z]+(?:\{[a-z_]+\})?)(==|!=|\+=|=)"([^"]*)"\s*(,|$)/gy;
  let m: RegExpExecArray | null;
  while ((m = re.exec(line)) !== null) {
    pairs.push([m[1]! + m[2]!, m[3]!]);
    if (m[4] === '') break;
  }
  if (re.lastIndex !== line.length) throw new Error(`not a udev rule line at ${re.lastIndex}: ${line}`);
  return pairs;
}

describe('the udev rule, as udev reads it', () => {
  const text = udevRule([dev('0000:01:00.0'), dev('0000:01:00.1', { device: '1aef' }), dev('0000:05:00.0', { group: 7, mode: 'manual', subsystemVendor: null, subsystemDevice: null })]);
  const lines = text.split('\n').filter((l) => l !== '' && !l.startsWith('#'));

  it('is made only of key/operator/value pairs udev knows, and ends with the label its lines jump to', () => {
    expect(lines.at(-1)).toBe('LABEL="vfioctl_end"');
    for (const line of lines.slice(0, -1)) {
      for (const [key] of ruleKeys(line)) expect(MATCH_KEYS.test(key) || ASSIGN_KEYS.test(key), `${key} in ${line}`).toBe(true);
    }
  });

  it('holds a device only on add, at its address, with every persisted ID; another card there is logged, not held', () => {
    const [hold, log] = lines.slice(1, 3).map(ruleKeys);
    expect(hold).toEqual([
      ['ACTION==', 'add'],
      ['SUBSYSTEM==', 'pci'],
      ['KERNEL==', '0000:01:00.0'],
      ['ATTR{vendor}==', '0x10de'],
      ['ATTR{device}==', '0x2204'],
      ['ATTR{subsystem_vendor}==', '0x1462'],
      ['ATTR{subsystem_device}==', '0x3881'],
      ['ATTR{driver_override}=', 'vfio-pci'],
      ['RUN{builtin}+=', 'kmod load vfio-pci'],
      ['RUN+=', "/bin/sh -c 'echo $kernel > /sys/bus/pci/drivers_probe'"],
      ['GOTO=', 'vfioctl_end'],
    ]);
    expect(log!.slice(0, 3)).toEqual(hold!.slice(0, 3));
    expect(log!.map(([k]) => k)).toEqual(['ACTION==', 'SUBSYSTEM==', 'KERNEL==', 'RUN+=']);
    expect(log![3]![1]).toBe(
      "/bin/sh -c 'echo vfioctl: $kernel is $attr{vendor}:$attr{device} subsystem $attr{subsystem_vendor}:$attr{subsystem_device}, not the persisted 0x10de:0x2204 subsystem 0x1462:0x3881, so it was left to its driver > /dev/kmsg'",
    );
  });

  it('guards by vendor and device alone where the device has no subsystem IDs', () => {
    const third = ruleKeys(lines[5]!).map(([k, v]) => `${k}${v}`);
    expect(third.slice(0, 5)).toEqual(['ACTION==add', 'SUBSYSTEM==pci', 'KERNEL==0000:05:00.0', 'ATTR{vendor}==0x10de', 'ATTR{device}==0x2204']);
    expect(third[5]).toBe('ATTR{driver_override}=vfio-pci');
    expect(text).toContain("# IOMMU group 7, group='manual'\n");
  });

  it('its first line, on any PCI add, holds every persisted device present, unbound and with its IDs, as sh runs it', () => {
    const first = ruleKeys(lines[0]!);
    expect(first.slice(0, 2)).toEqual([
      ['ACTION==', 'add'],
      ['SUBSYSTEM==', 'pci'],
    ]);
    expect(first.map(([k]) => k)).toEqual(['ACTION==', 'SUBSYSTEM==', 'RUN+=']);
    // udev makes $$ a $; the script then runs against a tree laid out like sys/bus/pci/devices.
    const sys = tmp('vfioctl-holdall-');
    const device = (address: string, ids: string[], bound: boolean): void => {
      const d = path.join(sys, address);
      fs.mkdirSync(d, { recursive: true });
      ['vendor', 'device', 'subsystem_vendor', 'subsystem_device'].forEach((f, i) => fs.writeFileSync(path.join(d, f), `${ids[i]}\n`));
      fs.writeFileSync(path.join(d, 'driver_override'), '(null)\n');
      if (bound) fs.mkdirSync(path.join(d, 'driver'));
    };
    device('0000:01:00.0', ['0x10de', '0x2204', '0x1462', '0x3881'], false); // held
    device('0000:01:00.1', ['0x10de', '0x2204', '0x1462', '0x3881'], false); // other IDs than persisted (1aef): left
    device('0000:05:00.0', ['0x10de', '0x2204', '0x0000', '0x0000'], true); // bound already: left
    const script = /^\/bin\/sh -c '(.*)'$/.exec(first[2]![1])![1]!.replace(/\$\$/g, '$').replace(/\/sys\/bus\/pci\/devices/g, sys);
    const r = spawnSync('/bin/sh', ['-c', script], { encoding: 'utf8' });
    expect(r.stderr).toBe('');
    const override = (a: string): string => fs.readFileSync(path.join(sys, a, 'driver_override'), 'utf8');
    expect(['0000:01:00.0', '0000:01:00.1', '0000:05:00.0'].map(override)).toEqual(['vfio-pci\n', '(null)\n', '(null)\n']);
    // Unbound, and no subsystem IDs persisted: held whatever its subsystem IDs.
    fs.rmdirSync(path.join(sys, '0000:05:00.0', 'driver'));
    spawnSync('/bin/sh', ['-c', script]);
    expect(override('0000:05:00.0')).toBe('vfio-pci\n');
  });

  it('an empty record generates no file at all', () => {
    expect(generatedFiles({ version: 1, verify: { node: '/usr/bin/node', vfioctl: '/usr/bin/vfioctl' }, devices: [] })).toEqual([]);
  });
});

describe('the boot check unit, as systemd reads it', () => {
  it('systemd-analyze verify accepts it, also when node and vfioctl live under paths with spaces, % and $', () => {
    const dir = tmp('vfioctl unit %d $x-');
    const node = path.join(dir, 'no de');
    const vfioctl = path.join(dir, 'vfioctl');
    fs.symlinkSync(process.execPath, node);
    fs.writeFileSync(vfioctl, '#!/bin/sh\n', { mode: 0o755 });
    const unitDir = tmp('vfioctl-unit-');
    const unit = path.join(unitDir, 'vfioctl-verify.service');
    fs.writeFileSync(unit, verifyUnit({ node, vfioctl }));
    // %d would be a specifier: %%; $x a variable in an argument: $$ (not in the executable's path, which systemd takes as it is).
    expect(fs.readFileSync(unit, 'utf8')).toContain(`ExecStart="${node.replace(/%/g, '%%')}" "${vfioctl.replace(/%/g, '%%').replace(/\$/g, '$$$$')}" persist --verify\n`);
    const r = spawnSync('systemd-analyze', ['verify', unit], { encoding: 'utf8', timeout: 60_000 });
    expect(r.error).toBeUndefined();
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
  });

  it('systemd-analyze verify does complain about a unit it cannot run (the check above can fail)', () => {
    const unitDir = tmp('vfioctl-unit-');
    const unit = path.join(unitDir, 'vfioctl-verify.service');
    fs.writeFileSync(unit, verifyUnit({ node: '/nonexistent/node', vfioctl: '/nonexistent/vfioctl' }).replace('Type=oneshot', 'Type=oneshoot'));
    const r = spawnSync('systemd-analyze', ['verify', unit], { encoding: 'utf8', timeout: 60_000 });
    expect(r.stderr).toContain('Failed to parse service type');
  });
});

describe('the files are written under the root, and under / on a real host', () => {
  // The real host's root is `/`: '/etc' is under it. (Found by test:vm, where `persist --root /` was refused
  // with "/etc leads to /etc" because '/' + '/' is not a prefix of '/etc'.)
  it('isUnderRoot', () => {
    expect(isUnderRoot('/', '/etc')).toBe(true);
    expect(isUnderRoot('/', '/')).toBe(true);
    expect(isUnderRoot('/tmp/host', '/tmp/host')).toBe(true);
    expect(isUnderRoot('/tmp/host', '/tmp/host/etc')).toBe(true);
    expect(isUnderRoot('/tmp/host', '/tmp/hostile/etc')).toBe(false);
    expect(isUnderRoot('/tmp/host', '/etc')).toBe(false);
  });
});
