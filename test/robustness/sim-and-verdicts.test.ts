import fs from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it, vi } from 'vitest';
import { HostReader } from '../../src/host/reader.js';
import { parseSysfsAddress } from '../../src/pci/address.js';
import { SimulatedKernel } from '../../src/mock/kernel/simulated.js';
import { json, runCli } from '../helpers/cli.js';
import { useSentinels } from '../helpers/sentinel.js';
import { useSimulatedHosts } from '../helpers/sim-host.js';
import { tinyHost } from '../helpers/tiny-host.js';
import { domainXml, tempFile } from '../helpers/xml.js';
import { report, Tally } from './campaign.js';

/**
 * The simulated kernel and the verdicts read from a tree: every write of the simulated kernel stays inside
 * --root, even through symlinks planted in the tree or a device link swapped under it; a bind or unbind cut
 * short at any step leaves a tree that reads as its `driver` link says; a bridge is told by its header type;
 * a device whose iommu_group link and its group's devices/ directory disagree is a broken tree (exit 13); and
 * the lock's holder is described without "undefined".
 */
const simulatedHost = useSimulatedHosts();
const tally = new Tally();
afterAll(() => report(tally.summary('simulated kernel and verdicts')));

const NIC = '0000:01:00.0';
const devDir = (root: string, ...p: string[]): string => path.join(root, 'sys/devices/pci0000:00/0000:00:1c.0', NIC, ...p);

/** A directory outside the root, and every path below it (to show that nothing was written there). */
const sentinel = useSentinels();
function contents(dir: string): string[] {
  const out: string[] = [];
  const visit = (d: string): void => {
    for (const e of fs.readdirSync(d, { withFileTypes: true })) {
      const p = path.join(d, e.name);
      out.push(`${path.relative(dir, p)} ${e.isSymbolicLink() ? `-> ${fs.readlinkSync(p)}` : e.isDirectory() ? '/' : fs.readFileSync(p, 'latin1')}`);
      if (e.isDirectory()) visit(p);
    }
  };
  visit(dir);
  return out.sort();
}
/** Moves ROOT/REL to the sentinel and leaves a symlink to it in its place. */
function moveOut(root: string, rel: string, outside: string): void {
  const target = path.join(outside, path.basename(rel));
  fs.cpSync(path.join(root, rel), target, { recursive: true, verbatimSymlinks: true });
  fs.rmSync(path.join(root, rel), { recursive: true });
  fs.symlinkSync(target, path.join(root, rel));
}

describe('the simulated kernel writes only inside its root', () => {
  const cases: [string, string][] = [
    ['.vfioctl-sim is a symlink out of the root', '.vfioctl-sim'],
    ['sys/bus/pci/drivers/vfio-pci is a symlink out of the root', 'sys/bus/pci/drivers/vfio-pci'],
    ['sys/bus/pci/drivers/e1000e is a symlink out of the root', 'sys/bus/pci/drivers/e1000e'],
  ];
  it.each(cases)('%s: detach ends in exit 13 naming it, nothing written outside', async (name, rel) => {
    const h = simulatedHost(tinyHost());
    const outside = sentinel();
    moveOut(h.root, rel, outside);
    const before = contents(outside);
    const xml = tempFile('x.xml', domainXml('x', [{ address: NIC, group: 'auto' }]));
    const r = await runCli(['detach', xml, '--root', h.root]);
    const after = contents(outside);
    const ok = r.code === 13 && r.stderr.includes(path.basename(rel)) && /outside the host root/.test(r.stderr) && JSON.stringify(after) === JSON.stringify(before);
    tally.record(name, ok, `exit ${r.code}: ${r.stderr.trim()}`);
    expect(after).toEqual(before);
    expect(r.stderr).toMatch(/outside the host root/);
    expect(r.stderr).toContain(path.basename(rel));
    expect(r.code).toBe(13);
  });

  it('a device link swapped to a copy outside the root during a run: the write is refused, nothing written there', () => {
    const h = simulatedHost(tinyHost());
    const kernel = new SimulatedKernel(h.root);
    // Between vfioctl's read of the tree and its write, the device's link is made to point outside.
    const outside = sentinel();
    fs.cpSync(devDir(h.root), path.join(outside, NIC), { recursive: true, verbatimSymlinks: true });
    const link = path.join(h.root, 'sys/bus/pci/devices', NIC);
    fs.rmSync(link);
    fs.symlinkSync(path.join(outside, NIC), link);
    const before = contents(outside);
    let error: unknown;
    try {
      kernel.write({ hostPath: `/sys/bus/pci/devices/${NIC}/driver_override`, value: 'vfio-pci' });
    } catch (err) {
      error = err;
    }
    const after = contents(outside);
    const message = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
    tally.record('a device link swapped out of the root during a run', JSON.stringify(after) === JSON.stringify(before) && /HostTreeError: .*outside the host root/.test(message), message);
    expect(after).toEqual(before);
    expect(message).toMatch(new RegExp(`HostTreeError: .*${NIC}.*outside the host root`));
  });
});

/** The tree's mutating calls, each one a point where a SIGKILL can land. */
const MUTATIONS = ['symlinkSync', 'renameSync', 'unlinkSync', 'rmSync', 'rmdirSync', 'writeFileSync', 'appendFileSync', 'mkdirSync', 'writeSync', 'cpSync'] as const;
class Killed extends Error {}
/** Runs `f`, killed (an exception no one catches) right before the k-th mutating call; the number of calls it made. */
function killedAt(k: number, f: () => void): number {
  let n = 0;
  const spies = MUTATIONS.map((name) => {
    const orig = (fs as any)[name].bind(fs) as (...a: unknown[]) => unknown;
    return vi.spyOn(fs, name as any).mockImplementation(((...a: unknown[]) => {
      n += 1;
      if (n === k) throw new Killed(`killed before call ${k}`);
      return orig(...a);
    }) as any);
  });
  try {
    f();
  } catch (err) {
    if (!(err instanceof Killed)) throw err;
  } finally {
    spies.forEach((s) => s.mockRestore());
  }
  return n;
}
const linkDriver = (root: string): string | null => {
  try {
    return path.basename(fs.readlinkSync(devDir(root, 'driver')));
  } catch {
    return null;
  }
};

describe('a bind or unbind of the simulated kernel, cut short at any step, reads as its driver link says', () => {
  const ops: [string, (root: string) => void, string | null][] = [
    ['unbind from e1000e', () => {}, null],
    ['bind to vfio-pci', (root) => {
      const k = new SimulatedKernel(root);
      k.write({ hostPath: '/sys/bus/pci/drivers/e1000e/unbind', value: NIC });
      k.write({ hostPath: `/sys/bus/pci/devices/${NIC}/driver_override`, value: 'vfio-pci' });
    }, 'vfio-pci'],
  ];
  it.each(ops)('%s', (name, prepare, want) => {
    const write = want === null ? { hostPath: '/sys/bus/pci/drivers/e1000e/unbind', value: NIC } : { hostPath: '/sys/bus/pci/drivers/vfio-pci/bind', value: NIC };
    const failures: string[] = [];
    for (let k = 1; ; k++) {
      const h = simulatedHost(tinyHost());
      prepare(h.root);
      const calls = killedAt(k, () => new SimulatedKernel(h.root).write(write));
      const read = new HostReader(h.root).device(parseSysfsAddress(NIC)!).driver;
      const link = linkDriver(h.root);
      // Then the same write again, where the kill left the device short of it, finishes the job.
      let again = 'not needed';
      if (link !== want) {
        try {
          new SimulatedKernel(h.root).write(write);
          again = 'ok';
        } catch (err) {
          again = String(err);
        }
      }
      const final = new HostReader(h.root).device(parseSysfsAddress(NIC)!).driver;
      if (read !== link || final !== want || linkDriver(h.root) !== want) failures.push(`killed before step ${k}: read ${read}, link ${link}; again: ${again}; then read ${final}`);
      if (calls < k) break; // the write ran to its end without reaching step k
    }
    tally.record(`${name}, killed at each step`, failures.length === 0, failures.join('; '));
    expect(failures).toEqual([]);
  });

  it('a tree whose uevent names no driver while the driver link names one reads the link', async () => {
    const h = simulatedHost(tinyHost());
    const uevent = devDir(h.root, 'uevent');
    fs.writeFileSync(uevent, fs.readFileSync(uevent, 'latin1').replace(/^DRIVER=.*\n/m, ''));
    const r = await runCli(['group-info', NIC, '--json', '--root', h.root]);
    const driver = r.code === 0 ? json(r).devices.find((d: any) => d.address === NIC)?.driver : `exit ${r.code}`;
    tally.record('uevent without DRIVER= beside a driver link', driver === 'e1000e', String(driver));
    expect(driver).toBe('e1000e');
  });
});

describe('verdicts', () => {
  it('on a 5.15 kernel a function of class 0604 with header type 0 is an endpoint: its group is not viable while a host driver has it', async () => {
    const desc = tinyHost({ release: '5.15.0-91-generic' });
    desc.drivers.push({ name: 'acme_switch', module: 'acme_switch', state: 'loaded', ids: [{ vendor: '1234', device: '5678' }] });
    desc.devices.push({ address: '0000:07:00.0', parent: null, vendor: '1234', device: '5678', class: '060400', subsystemVendor: '1234', subsystemDevice: '0000', headerType: 0, driver: 'acme_switch', driverOverride: null, iommuGroup: 7 });
    const h = simulatedHost(desc);
    const r = await runCli(['group-info', '07:00.0', '--json', '--root', h.root]);
    const g = json(r);
    const dev = g.devices[0];
    const ok = r.code === 0 && g.viable === false && dev.bridge === false;
    tally.record('class 0604 with header type 0 on 5.15', ok, `viable=${g.viable} bridge=${dev.bridge}`);
    expect({ viable: g.viable, bridge: dev.bridge }).toEqual({ viable: false, bridge: false });
  });

  it("a device whose iommu_group link names another group than the one whose devices/ lists it: exit 13 naming both, in group-info and check", async () => {
    const h = simulatedHost(tinyHost());
    // NIC is listed in group 2's devices/; its link now says group 3 (where 0000:02:00.0 is).
    const link = devDir(h.root, 'iommu_group');
    fs.rmSync(link);
    fs.symlinkSync(path.relative(devDir(h.root), path.join(h.root, 'sys/kernel/iommu_groups/3')), link);
    const xml = tempFile('x.xml', domainXml('x', [{ address: NIC, group: 'auto' }]));
    const results = [await runCli(['group-info', NIC, '--root', h.root]), await runCli(['check', xml, '--root', h.root])];
    const ok = results.every((r) => r.code === 13 && /iommu_groups\/2\/devices/.test(r.stderr) && /group 3/.test(r.stderr));
    tally.record('an iommu_group link that disagrees with the group directories', ok, results.map((r) => `exit ${r.code}: ${r.stderr.trim()}`).join(' | '));
    for (const r of results) {
      expect(r.stderr).toMatch(/inconsistent/);
      expect(r.stderr).toMatch(/iommu_groups\/2\/devices/);
      expect(r.stderr).toMatch(/group 3/);
      expect(r.code).toBe(13);
    }
  });
});

describe('the lock holder, described', () => {
  const locks: [string, object, RegExp][] = [
    // A lock with pid 0 or no pid names no holder and is taken over (test/robustness/stranded.test.ts).
    ['a live pid and nothing else', { pid: process.pid, start: null }, new RegExp(`holds .*lock: pid ${process.pid}\\. Gave up`)],
  ];
  it.each(locks)('a lock file with %s: the message says what is known, never "undefined"', async (name, owner, message) => {
    const h = simulatedHost(tinyHost());
    fs.mkdirSync(path.join(h.root, 'run/vfioctl'), { recursive: true });
    fs.writeFileSync(path.join(h.root, 'run/vfioctl/lock'), JSON.stringify(owner));
    const xml = tempFile('x.xml', domainXml('x', [{ address: NIC, group: 'auto' }]));
    const r = await runCli(['detach', xml, '--lock-timeout', '0.1', '--root', h.root]);
    const ok = r.code === 12 && !/undefined|pid 0\b/.test(r.stderr) && message.test(r.stderr);
    tally.record(`a lock with ${name}`, ok, `exit ${r.code}: ${r.stderr.trim()}`);
    expect(r.stderr).not.toMatch(/undefined|pid 0\b/);
    expect(r.stderr).toMatch(message);
    expect(r.code).toBe(12);
  });
});
