import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { BIN, type CliResult } from '../helpers/cli.js';
import type { HostDescription } from '../../src/mock/description.js';
import { loadHostDescription } from '../../src/mock/hosts.js';
import { makeSimulatedHost, simulatedWrites, type SimHost } from '../helpers/sim-host.js';
import { domainXml, tempFile } from '../helpers/xml.js';
import { report, Tally } from './campaign.js';

/**
 * What a hostile test of the host's safety found (issue 16), through bin/: a NIC that carries traffic through
 * an upper device (bridge, bond, VLAN ...) and a controller behind root or swap through block layers (ZFS,
 * LVM, LUKS, MD, bcache, btrfs, /dev/root) are the host's own, and check and detach refuse them (exit 6)
 * naming the chain; files vfioctl reads replaced by FIFOs must not hang it; and `snapshot -o` must not
 * replace what is not a regular file nor leave temp files.
 */
const hosts: SimHost[] = [];
const dirs: string[] = [];
afterEach(() => {
  while (hosts.length) hosts.pop()!.cleanup();
});
afterAll(() => {
  for (const d of dirs) fs.rmSync(d, { recursive: true, force: true });
});
const tally = new Tally();
afterAll(() => report(tally.summary('host safety')));

/** bin/vfioctl with a short timeout: a hang shows as exit -1 and signal SIGKILL, not as a stuck suite. */
function runBinWithin(args: string[], ms = 15_000, env: NodeJS.ProcessEnv = { VFIOCTL_PCI_IDS: '' }): CliResult {
  const r = spawnSync(process.execPath, [BIN, ...args], { encoding: 'utf8', env: { ...process.env, NO_COLOR: '1', ...env }, timeout: ms, killSignal: 'SIGKILL' });
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr, signal: r.signal };
}

function scratchDir(): string {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), 'vfioctl-safety-'));
  dirs.push(d);
  return d;
}

function mkfifo(file: string): void {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  expect(spawnSync('mkfifo', [file]).status).toBe(0);
}

const GPU = '0000:01:00.0';

const NIC = '0000:00:1f.6';
const SATA = '0000:00:17.0';
const NVME = '0000:02:00.0';

/** The workstation host (eno1 on 00:1f.6, sda on SATA 00:17.0, nvme0n1 on 02:00.0), changed by `edit`; eno1's routes removed. */
function workstationWith(edit: (d: HostDescription) => void): HostDescription {
  const d = loadHostDescription('workstation');
  d.routes = [];
  d.mounts = [];
  d.swaps = [];
  edit(d);
  return d;
}
const defaultRoute = (iface: string): HostDescription['routes'][number] => ({ iface, destination: '0.0.0.0', gateway: '192.0.2.1', mask: '0.0.0.0' });
const prefixRoute = (iface: string): HostDescription['routes'][number] => ({ iface, destination: '192.0.2.0', gateway: '0.0.0.0', mask: '255.255.255.0' });
const addNic = (d: HostDescription, address: string, iface: string): void => {
  d.devices.push({ ...d.devices.find((x) => x.address === NIC)!, address, iommuGroup: 20 + d.devices.length, net: [{ name: iface, operstate: 'up' }] });
};
const setBlocks = (d: HostDescription, address: string, block: { name: string; partitions?: string[] }[]): void => {
  d.devices.find((x) => x.address === address)!.block = block;
};

const hostCases: [string, HostDescription | string, string, RegExp][] = [
  ['a NIC that is the only port of a bridge carrying the default route (hypervisor)', 'hypervisor', NIC, /0000:00:1f\.6: its interface eno1 is the only port of br0, which carries the default route/],
  ['a NIC in a bond under a VLAN with routes (hypervisor)', 'hypervisor', '0000:03:00.0', /0000:03:00\.0: its interface enp3s0f0 is a port of bond0 \(with enp3s0f1\), which carries VLAN bond0\.100, which has routes to 10\.0\.100\.0\/24/],
  ['a NIC in a bond that is a port of a bridge', workstationWith((d) => {
    addNic(d, '0000:00:1f.7', 'eno2');
    d.netUppers = [{ name: 'bond0', kind: 'bond', operstate: 'up', lowers: ['eno1', 'eno2'] }, { name: 'br0', kind: 'bridge', operstate: 'up', lowers: ['bond0'] }];
    d.routes = [prefixRoute('br0')];
  }), NIC, /its interface eno1 is a port of bond0 \(with eno2\), which is the only port of br0, which has routes to 192\.0\.2\.0\/24/],
  ['a NIC under a VLAN that carries the default route', workstationWith((d) => {
    d.netUppers = [{ name: 'eno1.100', kind: 'vlan', operstate: 'up', lowers: ['eno1'] }];
    d.routes = [defaultRoute('eno1.100')];
  }), NIC, /its interface eno1 carries VLAN eno1\.100, which carries the default route/],
  ['a NIC under a macvlan with routes', workstationWith((d) => {
    d.netUppers = [{ name: 'macvlan0', kind: 'macvlan', operstate: 'up', lowers: ['eno1'] }];
    d.routes = [prefixRoute('macvlan0')];
  }), NIC, /its interface eno1 carries macvlan0, which has routes to 192\.0\.2\.0\/24/],
  ['a NIC that is a port of a team in a bridge', workstationWith((d) => {
    d.netUppers = [{ name: 'team0', kind: 'team', operstate: 'up', lowers: ['eno1'] }, { name: 'br0', kind: 'bridge', operstate: 'up', lowers: ['team0'] }];
    d.routes = [defaultRoute('br0')];
  }), NIC, /its interface eno1 is the only port of team0, which is the only port of br0, which carries the default route/],
  ['a NIC that is a port of Open vSwitch', workstationWith((d) => {
    d.netUppers = [{ name: 'ovs-system', kind: 'openvswitch', operstate: 'down', lowers: ['eno1'] }];
  }), NIC, /its interface eno1 is the only port of the Open vSwitch datapath ovs-system, which carries the traffic of the host's Open vSwitch bridges/],
  ['root on ZFS (hypervisor: rpool mirrored on sda3 and sdb3)', 'hypervisor', SATA, /0000:00:17\.0: it serves sda, its partition sda3, a member of ZFS pool rpool, which holds \/[;\n]/],
  ['root on a ZFS pool on a whole disk', workstationWith((d) => {
    setBlocks(d, SATA, [{ name: 'sda' }]);
    d.storage = { zfsPools: [{ pool: 'rpool', members: ['sda'] }] };
    d.mounts = [{ source: 'rpool/ROOT/pve-1', target: '/', fstype: 'zfs' }];
  }), SATA, /0000:00:17\.0: it serves sda, a member of ZFS pool rpool, which holds \//],
  ['LVM on NVMe (hypervisor)', 'hypervisor', NVME, /it serves nvme0n1, its partition nvme0n1p1, under LVM volume pve-data \(dm-0\), which holds \/var\/lib\/vz/],
  ['swap on LUKS on NVMe (hypervisor)', 'hypervisor', NVME, /it serves nvme0n1, its partition nvme0n1p2, under encrypted volume cryptswap \(dm-1\), which is in use as swap/],
  ['root shown as /dev/root (found by mountinfo\'s major:minor)', workstationWith((d) => {
    d.mounts = [{ source: '/dev/root', target: '/', fstype: 'ext4', device: 'sda1' }];
  }), SATA, /0000:00:17\.0: it holds sda1, mounted at \//],
  ['root on MD RAID 1 over two NVMe partitions', workstationWith((d) => {
    setBlocks(d, NVME, [{ name: 'nvme0n1', partitions: ['nvme0n1p1', 'nvme0n1p2'] }]);
    d.storage = { stacked: [{ name: 'md0', kind: 'md', slaves: ['nvme0n1p1', 'nvme0n1p2'] }] };
    d.mounts = [{ source: '/dev/md0', target: '/', fstype: 'ext4' }];
  }), NVME, /it serves nvme0n1, its partition nvme0n1p1, under RAID md0, which holds \//],
  ['LVM on LUKS on RAID, three layers', workstationWith((d) => {
    d.storage = { stacked: [{ name: 'md0', kind: 'md', slaves: ['sda1', 'sda2'] }, { name: 'dm-0', kind: 'crypt', dmName: 'cryptroot', slaves: ['md0'] }, { name: 'dm-1', kind: 'lvm', dmName: 'vg0-root', slaves: ['dm-0'] }] };
    d.mounts = [{ source: '/dev/mapper/vg0-root', target: '/', fstype: 'ext4' }];
  }), SATA, /it serves sda, its partition sda1, under RAID md0, under encrypted volume cryptroot \(dm-0\), under LVM volume vg0-root \(dm-1\), which holds \//],
  ['a multipath disk', workstationWith((d) => {
    setBlocks(d, SATA, [{ name: 'sda' }, { name: 'sdb' }]);
    d.storage = { stacked: [{ name: 'dm-0', kind: 'multipath', dmName: 'mpatha', slaves: ['sda', 'sdb'] }] };
    d.mounts = [{ source: '/dev/mapper/mpatha', target: '/srv', fstype: 'xfs' }];
  }), SATA, /it serves sda, under multipath device mpatha \(dm-0\), which holds \/srv/],
  ['bcache with its backing device on NVMe', workstationWith((d) => {
    d.storage = { stacked: [{ name: 'bcache0', kind: 'bcache', slaves: ['nvme0n1p1'] }] };
    d.mounts = [{ source: '/dev/bcache0', target: '/var', fstype: 'ext4' }];
  }), NVME, /it serves nvme0n1, its partition nvme0n1p1, under bcache0 \(bcache\), which holds \/var/],
  ['a btrfs filesystem mounted from sda1 that also spans NVMe', workstationWith((d) => {
    d.storage = { btrfs: [{ devices: ['nvme0n1p1', 'sda1'] }] };
    d.mounts = [{ source: '/dev/sda1', target: '/', fstype: 'btrfs' }];
  }), NVME, /it serves nvme0n1, its partition nvme0n1p1, a device of the btrfs filesystem on sda1, which holds \//],
];

describe("the host's own devices behind upper devices and block layers: check and detach refuse (exit 6) and name the chain", () => {
  it.each(hostCases)('%s', (name, host, address, message) => {
    const h = makeSimulatedHost(host);
    hosts.push(h);
    const xml = tempFile('vm.xml', domainXml('vm', [{ address, group: 'auto' }]));
    const check = runBinWithin(['check', xml, '--root', h.root]);
    const detach = runBinWithin(['detach', xml, '--root', h.root]);
    // check prints its analysis on stdout; detach's refusal is an error on stderr.
    const said = { check: check.stdout + check.stderr, detach: detach.stdout + detach.stderr };
    const ok = check.code === 6 && message.test(said.check) && detach.code === 6 && message.test(said.detach) && simulatedWrites(h.root).length === 0;
    tally.record(name, ok, `check exit ${check.code}, detach exit ${detach.code}: ${detach.stderr.trim()}`);
    expect(check.code).toBe(6);
    expect(said.check).toMatch(message);
    expect(detach.code).toBe(6);
    expect(said.detach).toMatch(message);
    expect(simulatedWrites(h.root)).toEqual([]);
  });
});

describe('a FIFO where vfioctl reads a file: a clear error at once, never a hang', () => {
  const cases: [string, (root: string, xml: string) => string[], number, RegExp][] = [
    ['a FIFO as the domain XML (check)', (root) => {
      const fifo = path.join(scratchDir(), 'vm.xml');
      mkfifo(fifo);
      return ['check', fifo, '--root', root];
    }, 3, /vm\.xml: it is a FIFO \(named pipe\) with no writer/],
    ['a FIFO as run/vfioctl/journal.json (detach)', (root, xml) => {
      mkfifo(path.join(root, 'run/vfioctl/journal.json'));
      return ['detach', xml, '--root', root, '--lock-timeout', '2'];
    }, 13, /journal .*journal\.json is a FIFO \(named pipe\), not a file vfioctl wrote/],
    ['a FIFO as run/vfioctl/lock (detach --lock-timeout 2)', (root, xml) => {
      mkfifo(path.join(root, 'run/vfioctl/lock'));
      return ['detach', xml, '--root', root, '--lock-timeout', '2'];
    }, 13, /lock .*run\/vfioctl\/lock is a FIFO \(named pipe\), not a lock vfioctl made/],
  ];
  it.each(cases)('%s', (name, setup, code, message) => {
    const h = makeSimulatedHost('workstation');
    hosts.push(h);
    const xml = tempFile('gpu.xml', domainXml('gpu', [{ address: GPU, group: 'auto' }]));
    const r = runBinWithin(setup(h.root, xml));
    const ok = r.code === code && message.test(r.stderr) && simulatedWrites(h.root).length === 0;
    tally.record(name, ok, `exit ${r.code} ${r.signal ?? ''}: ${r.stderr.trim()}`);
    expect(r.signal).toBeNull();
    expect(r.code).toBe(code);
    expect(r.stderr).toMatch(message);
    expect(simulatedWrites(h.root)).toEqual([]);
  });

  it('a pipe with a writer is still read: check <(cat vm.xml)', () => {
    const h = makeSimulatedHost('workstation');
    hosts.push(h);
    const xml = tempFile('gpu.xml', domainXml('gpu', [{ address: GPU, group: 'auto' }]));
    const r = spawnSync('bash', ['-c', `"${process.execPath}" "${BIN}" check <(cat "${xml}") --root "${h.root}"`], { encoding: 'utf8', timeout: 15_000 });
    tally.record('a pipe with a writer as the XML', r.status === 0, r.stderr);
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/A detach would succeed/);
  });
});

describe('a FIFO in the host tree where the kernel has a file: a clear error at once, never a hang', () => {
  /** The real directory of a function of the simulated host. */
  const deviceDir = (root: string, addr: string): string => fs.realpathSync(path.join(root, 'sys/bus/pci/devices', addr));
  const asFifo = (file: string): void => {
    fs.rmSync(file, { force: true });
    mkfifo(file);
  };
  const cases: [string, (root: string) => void, string[], number, RegExp][] = [
    ["a function's uevent (list)", (root) => asFifo(path.join(deviceDir(root, GPU), 'uevent')), ['list'], 13, /0000:01:00\.0\/uevent: it is a pipe or socket, where the kernel has a file/],
    ["a function's reset_method (group-info)", (root) => asFifo(path.join(deviceDir(root, GPU), 'reset_method')), ['group-info', GPU], 13, /reset_method: it is a pipe or socket, where the kernel has a file/],
    // Config space that cannot be read is passed over, as for an unprivileged reader (the IDs come from uevent).
    ["a function's config (list)", (root) => asFifo(path.join(deviceDir(root, GPU), 'config')), ['list', '--json'], 0, /^$/],
    ['proc/mounts (group-info)', (root) => asFifo(path.join(root, 'proc/mounts')), ['group-info', GPU], 13, /proc\/mounts: it is a FIFO \(named pipe\), where the kernel has a file/],
  ];
  it.each(cases)('%s', (name, setup, args, code, message) => {
    const h = makeSimulatedHost('workstation');
    hosts.push(h);
    setup(h.root);
    const r = runBinWithin([...args, '--root', h.root], 10_000);
    tally.record(`a FIFO as ${name}`, r.code === code && message.test(r.stderr), `exit ${r.code} ${r.signal ?? ''}: ${r.stderr.trim()}`);
    expect(r.signal).toBeNull();
    expect(r.code).toBe(code);
    expect(r.stderr).toMatch(message);
  });

  it("a FIFO as the root's pci.ids is passed over (names from the next place, or IDs alone); VFIOCTL_PCI_IDS naming one is an error", () => {
    const h = makeSimulatedHost('workstation');
    hosts.push(h);
    asFifo(path.join(h.root, 'usr/share/misc/pci.ids'));
    const listed = runBinWithin(['list', '--root', h.root], 10_000, {});
    tally.record("a FIFO as the root's pci.ids", listed.code === 0, `exit ${listed.code} ${listed.signal ?? ''}`);
    expect(listed.signal).toBeNull();
    expect(listed.code).toBe(0);
    const fifo = path.join(scratchDir(), 'pci.ids');
    mkfifo(fifo);
    const named = runBinWithin(['list', '--root', h.root], 10_000, { VFIOCTL_PCI_IDS: fifo });
    expect(named.signal).toBeNull();
    expect(named.code).toBe(3);
    expect(named.stderr).toContain(`VFIOCTL_PCI_IDS names '${fifo}', which is not a regular file (a FIFO, a device or a directory).`);
  });
});

describe('snapshot -o: rename-over only for a regular file or a new name, no temp file left', () => {
  const leftovers = (dir: string): string[] => fs.readdirSync(dir).filter((f) => f.endsWith('.tmp'));

  it.each([
    ['into a directory that does not exist', (d: string) => path.join(d, 'missing', 'host.json'), 4, /the directory .*missing does not exist/],
    ['onto a directory', (d: string) => {
      fs.mkdirSync(path.join(d, 'adir'));
      return path.join(d, 'adir');
    }, 3, /adir: it is a directory/],
  ] as const)('%s: a clear error and its exit code, no *.tmp', (name, target, code, message) => {
    const h = makeSimulatedHost('workstation');
    hosts.push(h);
    const d = scratchDir();
    const file = target(d);
    const r = runBinWithin(['snapshot', '-o', file, '--root', h.root]);
    const ok = r.code === code && message.test(r.stderr) && leftovers(d).length === 0;
    tally.record(`snapshot -o ${name}`, ok, `exit ${r.code}: ${r.stderr.trim()}`);
    expect(r.code).toBe(code);
    expect(r.stderr).toMatch(message);
    expect(leftovers(d)).toEqual([]);
  });

  // Never the machine's own /dev/null: on a build without the fix this case replaces its target with a file.
  // A twin of it (mknod c 1 3) in a scratch directory, as root; a symlink to the real one either way.
  it.each(['a character device (a twin of /dev/null)', 'a symlink to /dev/null'])('onto %s: written in place, the node and the link stay', (kind) => {
    const h = makeSimulatedHost('workstation');
    hosts.push(h);
    const d = scratchDir();
    const target = path.join(d, 'null');
    const twin = kind.startsWith('a character') && spawnSync('mknod', ['-m', '666', target, 'c', '1', '3']).status === 0;
    if (!twin) fs.symlinkSync('/dev/null', target);
    const r = runBinWithin(['snapshot', '-o', target, '--root', h.root]);
    const after = fs.lstatSync(target);
    const kept = twin ? after.isCharacterDevice() && after.rdev === fs.statSync('/dev/null').rdev : after.isSymbolicLink();
    const ok = r.code === 0 && kept && fs.lstatSync('/dev/null').isCharacterDevice() && leftovers(d).length === 0;
    tally.record(`snapshot -o ${kind}`, ok, `exit ${r.code}: ${r.stderr.trim()}`);
    expect(r.code).toBe(0);
    expect(kept).toBe(true);
    expect(fs.lstatSync('/dev/null').isCharacterDevice()).toBe(true);
    expect(leftovers(d)).toEqual([]);
  });

  it('onto a symlink to a file (the /dev/stdout shape): written through the link, the link stays', () => {
    const h = makeSimulatedHost('workstation');
    hosts.push(h);
    const d = scratchDir();
    const out = path.join(d, 'out.json');
    fs.writeFileSync(out, '');
    fs.symlinkSync(out, path.join(d, 'stdout'));
    const r = runBinWithin(['snapshot', '-o', path.join(d, 'stdout'), '--root', h.root]);
    const ok = r.code === 0 && fs.lstatSync(path.join(d, 'stdout')).isSymbolicLink() && JSON.parse(fs.readFileSync(out, 'utf8')).format === 'vfioctl-host/1';
    tally.record('snapshot -o a symlink', ok, `exit ${r.code}: ${r.stderr.trim()}`);
    expect(r.code).toBe(0);
    expect(fs.lstatSync(path.join(d, 'stdout')).isSymbolicLink()).toBe(true);
    expect(JSON.parse(fs.readFileSync(out, 'utf8'))).toMatchObject({ format: 'vfioctl-host/1' });
    expect(leftovers(d)).toEqual([]);
  });
});
