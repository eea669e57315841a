import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { runBin, startBin } from '../helpers/cli.js';
import { useSimulatedHosts } from '../helpers/sim-host.js';
import { tempFile } from '../helpers/xml.js';
import { drivers, journal, report, targetGroup } from './campaign.js';

const simulatedHost = useSimulatedHosts();

describe('concurrent runs on one host serialize on the lock', () => {
  it('8 detach/reattach runs at once: all succeed, the final state is consistent, no journal entry is lost', async () => {
    const h = simulatedHost('pci-bridge');
    const before = drivers(h.root);
    const target = (await targetGroup(h.root))!;
    const xml = tempFile('c.xml', target.xml);
    const runs = await Promise.all(
      Array.from({ length: 8 }, (_, i) => startBin([i % 2 === 0 ? 'detach' : 'reattach', xml, '--root', h.root, '--lock-timeout', '120'])),
    );
    expect(runs.map((r) => [r.code, r.stderr])).toEqual(runs.map(() => [0, '']));
    const after = drivers(h.root);
    const j = journal(h.root);
    expect(j.operation).toBeNull();
    const moved = target.members.filter((a) => after[a] === 'vfio-pci');
    // Either the group is on vfio-pci and the journal remembers every member's original driver, or it is all back.
    expect([0, target.members.length]).toContain(moved.length);
    expect(Object.keys(j.devices).sort()).toEqual(moved.sort());
    for (const a of moved) expect((j.devices[a] as { driver: string }).driver).toBe(before[a]);
    expect(fs.existsSync(path.join(h.root, 'run/vfioctl/lock'))).toBe(false);
    expect(runBin(['reattach', '--all', '--root', h.root]).code).toBe(0);
    expect(drivers(h.root)).toEqual(before);
    report('concurrency: 8 simultaneous detach/reattach runs serialized, final state consistent');
  }, 120_000);

  it("a dead owner's lock is taken over; a live owner's makes the next run wait, then fail with a clear message", async () => {
    const h = simulatedHost('pci-bridge');
    const target = (await targetGroup(h.root))!;
    const xml = tempFile('c.xml', target.xml);
    const lock = path.join(h.root, 'run/vfioctl/lock');
    fs.mkdirSync(path.dirname(lock), { recursive: true });
    const dead = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], { encoding: 'utf8' });
    fs.writeFileSync(lock, JSON.stringify({ pid: Number(dead.stdout), start: '1', command: 'detach (crashed)', since: '2026-01-01T00:00:00Z' }));
    expect(runBin(['detach', xml, '--root', h.root]).code).toBe(0);
    expect(fs.existsSync(lock)).toBe(false);

    const holder = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 30000)']);
    try {
      fs.writeFileSync(lock, JSON.stringify({ pid: holder.pid, start: null, command: 'detach vm.xml', since: '2026-11-24T00:00:00Z' }));
      const t0 = Date.now();
      const r = runBin(['reattach', xml, '--root', h.root, '--lock-timeout', '1']);
      expect(r.code).toBe(12);
      expect(r.stderr).toContain(`Another vfioctl holds ${lock}: pid ${holder.pid} (detach vm.xml`);
      expect(Date.now() - t0).toBeGreaterThanOrEqual(1000);
      expect(drivers(h.root)[target.members[0]!]).toBe('vfio-pci');
    } finally {
      holder.kill('SIGKILL');
    }
  });
});
