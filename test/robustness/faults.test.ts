import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { clearFaults, injectFault, readSimState, type SimFault } from '../../src/mock/kernel/sim-state.js';
import { listBundledHosts } from '../../src/mock/hosts.js';
import { json, runCli } from '../helpers/cli.js';
import { makeSimulatedHost, simulatedWrites } from '../helpers/sim-host.js';
import { tempFile } from '../helpers/xml.js';
import { drivers, journal, report, Tally, targetGroup } from './campaign.js';

/**
 * Every write of a detach and of a reattach fails in turn, with each errno the kernel really returns there
 * (docs/sysfs-semantics.md). After the command: every device is on its original driver (or the whole operation
 * completed), the journal matches the tree, the error names the failed write. Plus a host driver that
 * re-claims each device right after its unbind.
 */
const ERRNOS: Record<string, string[]> = {
  driver_override: ['EINVAL', 'EIO', 'EACCES'],
  unbind: ['ENODEV', 'EBUSY', 'EIO', 'EACCES'],
  bind: ['ENODEV', 'EBUSY', 'EINVAL', 'EIO'],
  drivers_probe: ['ENODEV', 'EBUSY', 'EINVAL', 'EIO', 'EACCES'],
  new_id: ['EEXIST', 'EINVAL', 'EIO'],
  remove_id: ['ENODEV', 'EINVAL'],
};
const errnosFor = (p: string): string[] => ERRNOS[p.split('/').at(-1)!] ?? ['EIO'];

const tally = { detach: new Tally(), reattach: new Tally(), reclaim: new Tally() };
let savedTimeout: string | undefined;
beforeAll(() => {
  savedTimeout = process.env.VFIOCTL_VERIFY_TIMEOUT_MS;
  process.env.VFIOCTL_VERIFY_TIMEOUT_MS = '20';
});
afterAll(() => {
  if (savedTimeout === undefined) delete process.env.VFIOCTL_VERIFY_TIMEOUT_MS;
  else process.env.VFIOCTL_VERIFY_TIMEOUT_MS = savedTimeout;
  report(tally.detach.summary('faults, detach'));
  report(tally.reattach.summary('faults, reattach'));
  report(tally.reclaim.summary('faults, host driver re-claims after unbind'));
});

async function withHost<T>(name: string, fn: (root: string) => Promise<T>): Promise<T> {
  const h = makeSimulatedHost(name);
  try {
    return await fn(h.root);
  } finally {
    h.cleanup();
  }
}

const hostNames = listBundledHosts().map((h) => h.name);

describe.each(hostNames)('faults on %s', (hostName) => {
  it('detach: each write position fails with each errno; everything is rolled back and the error names the write', async () => {
    const plan = await withHost(hostName, async (root) => {
      const target = await targetGroup(root);
      if (!target) return undefined;
      const xml = tempFile('campaign.xml', target.xml);
      const dry = await runCli(['detach', xml, '--dry-run', '--json', '--root', root]);
      return dry.code === 0 ? { xml, writes: json(dry).writes as { path: string; value: string }[] } : { xml, writes: [] };
    });
    if (!plan || plan.writes.length === 0) {
      // Hosts where a detach stops before any write (IOMMU off, no vfio-pci): nothing to fail, and nothing written.
      await withHost(hostName, async (root) => {
        const target = await targetGroup(root);
        const xml = tempFile('any.xml', target?.xml ?? '<domain type="kvm"><name>x</name><devices/></domain>');
        await runCli(['detach', xml, '--root', root]);
        expect(simulatedWrites(root)).toEqual([]);
      });
      return;
    }
    for (const [i, w] of plan.writes.entries()) {
      for (const errno of errnosFor(w.path)) {
        await withHost(hostName, async (root) => {
          const before = drivers(root);
          injectFault(root, { kind: 'fail', position: i + 1, errno, times: 'once' });
          const r = await runCli(['detach', plan.xml, '--root', root]);
          const name = `${hostName}: write ${i + 1} (${w.path} <- ${w.value.trim()}) fails with ${errno}`;
          const ok =
            r.code === 10 &&
            r.stderr.includes(`Failed to write '${w.value.trim()}' to '${w.path}': ${errno}`) &&
            /Rolled back/.test(r.stderr) &&
            JSON.stringify(drivers(root)) === JSON.stringify(before) &&
            Object.keys(journal(root).devices).length === 0 &&
            journal(root).operation === null;
          tally.detach.record(name, ok, ok ? '' : `exit ${r.code}: ${r.stderr.trim().split('\n').slice(0, 3).join(' | ')}`);
          // And the host is usable afterwards: the same detach now succeeds.
          const again = await runCli(['detach', plan.xml, '--root', root]);
          tally.detach.record(`${name}, then detach again`, again.code === 0, again.stderr.trim());
        });
      }
    }
    expect(tally.detach.failures).toEqual([]);
  });

  /** Whether a detach of this host's target group moves something, so that there is a reattach to fail. */
  const detachable = (): Promise<boolean> =>
    withHost(hostName, async (root) => {
      const target = await targetGroup(root);
      if (!target) return false;
      const xml = tempFile('campaign.xml', target.xml);
      if ((await runCli(['detach', xml, '--root', root])).code !== 0) return false;
      const dry = json(await runCli(['reattach', xml, '--dry-run', '--json', '--root', root]));
      expect(dry.writes.length).toBeGreaterThan(0);
      return true;
    });

  /** Each write of a reattach fails in turn with each errno: once (`always` false), or every time. */
  const reattachCampaign = async (fault: (base: number, w: { path: string; value: string }) => SimFault, label: string, always: boolean): Promise<void> => {
    const writes = await withHost(hostName, async (root) => {
      const target = (await targetGroup(root))!;
      const xml = tempFile('campaign.xml', target.xml);
      await runCli(['detach', xml, '--root', root]);
      return json(await runCli(['reattach', xml, '--dry-run', '--json', '--root', root])).writes as { path: string; value: string }[];
    });
    for (const [i, w] of writes.entries()) {
      for (const errno of errnosFor(w.path)) {
        await withHost(hostName, async (root) => {
          const original = drivers(root);
          const target = (await targetGroup(root))!;
          const xml = tempFile('campaign.xml', target.xml);
          await runCli(['detach', xml, '--root', root]);
          const base = readSimState(root).writes;
          injectFault(root, { ...fault(base + i + 1, w), errno } as SimFault);
          const r = await runCli(['reattach', xml, '--root', root]);
          const name = `${hostName}: reattach write ${i + 1} (${w.path} <- ${w.value.trim() || '\\n'}) fails with ${errno}, ${label}`;
          let ok: boolean;
          if (!always) {
            ok = r.code === 0 && JSON.stringify(drivers(root)) === JSON.stringify(original) && Object.keys(journal(root).devices).length === 0;
          } else {
            const now = drivers(root);
            const left = Object.keys(journal(root).devices).sort();
            const notBack = Object.keys(original).filter((a) => now[a] !== original[a]).sort();
            ok = r.code === 11 && r.stderr.includes(errno) && JSON.stringify(left) === JSON.stringify(notBack);
            clearFaults(root);
            const all = await runCli(['reattach', '--all', '--root', root]);
            ok = ok && all.code === 0 && JSON.stringify(drivers(root)) === JSON.stringify(original) && Object.keys(journal(root).devices).length === 0;
          }
          tally.reattach.record(name, ok, ok ? '' : `exit ${r.code}: ${r.stderr.trim().split('\n').slice(0, 3).join(' | ')}`);
        });
      }
    }
  };

  // Two tests, not one: on a slow machine the two halves together took 67 s of the 120 s a test may take.
  it('reattach: each write position fails once with each errno; it retries and every device is back', async () => {
    if (!(await detachable())) return; // nothing was detached on this host (IOMMU off, no vfio-pci), so nothing to reattach
    await reattachCampaign((position) => ({ kind: 'fail', position, errno: '', times: 'once' }), 'once', false);
    expect(tally.reattach.failures).toEqual([]);
  });

  it('reattach: each write fails every time with each errno; it exits 11 keeping the journal, and --all completes', async () => {
    if (!(await detachable())) return;
    await reattachCampaign((_p, w) => ({ kind: 'fail', path: w.path, value: w.value, errno: '', times: 'always' }), 'every time', true);
    expect(tally.reattach.failures).toEqual([]);
  });

  it('a host driver that re-claims a device right after its unbind is detected, reported and rolled back', async () => {
    const members = await withHost(hostName, async (root) => (await targetGroup(root))?.members ?? []);
    for (const addr of members) {
      await withHost(hostName, async (root) => {
        const before = drivers(root);
        const host = before[addr];
        if (!host || host === 'vfio-pci') return;
        const target = (await targetGroup(root))!;
        const xml = tempFile('campaign.xml', target.xml);
        injectFault(root, { kind: 'reclaim', address: addr, driver: host, times: 'once' });
        const r = await runCli(['detach', xml, '--root', root]);
        const ok =
          r.code === 10 &&
          r.stderr.includes(`${addr} is bound to ${host} (a host driver re-claimed it)`) &&
          JSON.stringify(drivers(root)) === JSON.stringify(before) &&
          Object.keys(journal(root).devices).length === 0;
        tally.reclaim.record(`${hostName}: ${host} re-claims ${addr}`, ok, ok ? '' : `exit ${r.code}: ${r.stderr.trim()}`);
      });
    }
    expect(tally.reclaim.failures).toEqual([]);
  });
});
