import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { BIN, runBin } from '../helpers/cli.js';
import { useSimulatedHosts } from '../helpers/sim-host.js';
import { domainXml, tempFile } from '../helpers/xml.js';

const simulatedHost = useSimulatedHosts();
const gpuXml = (): string => tempFile('gpu.xml', domainXml('gpu', [{ address: '0000:01:00.0', group: 'auto' }]));
const holders: ReturnType<typeof spawn>[] = [];
afterEach(() => {
  for (const h of holders.splice(0)) h.kill();
});

/** A live process holding the host's lock, as another vfioctl would. */
function holdLock(root: string): { pid: number; lock: string } {
  const holder = spawn('sleep', ['60'], { stdio: 'ignore' });
  holders.push(holder);
  const dir = path.join(root, 'run', 'vfioctl');
  fs.mkdirSync(dir, { recursive: true });
  const lock = path.join(dir, 'lock');
  fs.writeFileSync(lock, JSON.stringify({ pid: holder.pid, start: null, command: 'detach vm1.xml', since: '2026-01-02T03:04:05.000Z' }));
  return { pid: holder.pid!, lock };
}

describe('waiting for the lock', () => {
  it('stderr a terminal: says once who holds it (pid, command, since when), then fails with exit 12', () => {
    const h = simulatedHost('workstation');
    const { pid, lock } = holdLock(h.root);
    const command = [process.execPath, BIN, 'detach', gpuXml(), '--root', h.root, '--lock-timeout', '0.5'].map((a) => `'${a}'`).join(' ');
    const r = spawnSync('script', ['-qec', command, '/dev/null'], { encoding: 'utf8', env: { ...process.env, NO_COLOR: '1', VFIOCTL_PCI_IDS: '', VFIOCTL_PROGRESS: undefined } });
    expect(r.status).toBe(12);
    const waiting = `vfioctl: waiting for ${lock}, held by pid ${pid} (detach vm1.xml, since 2026-01-02T03:04:05.000Z) ...`;
    expect(r.stdout.split('\r\n').filter((l) => l === waiting)).toHaveLength(1);
    expect(r.stdout.indexOf(waiting)).toBeLessThan(r.stdout.indexOf('vfioctl: Another vfioctl holds'));
  });

  it('stderr not a terminal: only the error', () => {
    const h = simulatedHost('workstation');
    holdLock(h.root);
    const r = runBin(['detach', gpuXml(), '--root', h.root, '--lock-timeout', '0.2'], { VFIOCTL_PROGRESS: undefined });
    expect(r.code).toBe(12);
    expect(r.stderr).toMatch(/^vfioctl: Another vfioctl holds /);
    expect(r.stderr).not.toContain('waiting for');
  });
});

describe('a line per device as it moves', () => {
  it('with VFIOCTL_PROGRESS=always (the simulated kernel; on a real host a terminal is enough): each device, in order, on stderr', () => {
    const h = simulatedHost('workstation');
    const r = runBin(['detach', gpuXml(), '--root', h.root, '--json'], { VFIOCTL_PROGRESS: 'always' });
    expect(r.code).toBe(0);
    expect(r.stderr).toBe('vfioctl: [1/2] 0000:01:00.0: nouveau -> vfio-pci\nvfioctl: [2/2] 0000:01:00.1: snd_hda_intel -> vfio-pci\n');
    expect(JSON.parse(r.stdout)).toMatchObject({ changed: true });
  });

  it('on a simulated host with stderr a terminal, and never with VFIOCTL_PROGRESS=never: no lines', () => {
    const h = simulatedHost('workstation');
    const command = [process.execPath, BIN, 'detach', gpuXml(), '--root', h.root, '--json'].map((a) => `'${a}'`).join(' ');
    const r = spawnSync('script', ['-qec', command, '/dev/null'], { encoding: 'utf8', env: { ...process.env, NO_COLOR: '1', VFIOCTL_PCI_IDS: '', VFIOCTL_PROGRESS: undefined } });
    expect(r.status).toBe(0);
    expect(r.stdout).not.toContain('[1/2]');
    const h2 = simulatedHost('workstation');
    expect(runBin(['detach', gpuXml(), '--root', h2.root], { VFIOCTL_PROGRESS: 'never' }).stderr).toBe('');
  });
});
