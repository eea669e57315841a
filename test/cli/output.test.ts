import { spawn } from 'node:child_process';
import { afterEach, describe, expect, it } from 'vitest';
import { BIN, json, runBin } from '../helpers/cli.js';
import { makeSimulatedHost, type SimHost } from '../helpers/sim-host.js';
import { domainXml, tempFile } from '../helpers/xml.js';

const hosts: SimHost[] = [];
afterEach(() => {
  while (hosts.length) hosts.pop()!.cleanup();
});

/** Runs bin/vfioctl with its stdout a pipe whose reader has gone away before the first line (`| head -0`). */
function runWithClosedStdout(args: string[]): Promise<{ code: number | null; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [BIN, ...args], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, NO_COLOR: '1' } });
    child.stdout.destroy(); // the read end closes: every write of the child gets EPIPE
    let stderr = '';
    child.stderr.on('data', (d) => (stderr += d));
    child.on('close', (code) => resolve({ code, stderr }));
  });
}

describe('output whose reader goes away', () => {
  it('list stops printing quietly: exit 0, nothing on stderr', async () => {
    const h = makeSimulatedHost('sriov-server');
    hosts.push(h);
    const r = await runWithClosedStdout(['list', '--root', h.root]);
    expect(r).toEqual({ code: 0, stderr: '' });
  });

  it('detach still does all its work: the devices end on vfio-pci, as with its output read', async () => {
    const h = makeSimulatedHost('workstation');
    hosts.push(h);
    const xml = tempFile('gpu.xml', domainXml('gpu', [{ address: '0000:01:00.0', group: 'auto' }]));
    const r = await runWithClosedStdout(['detach', xml, '--root', h.root]);
    expect(r).toEqual({ code: 0, stderr: '' });
    const g = json(runBin(['group-info', '01:00.0', '--json', '--root', h.root]));
    expect(g.devices.map((d: { address: string; driver: string }) => [d.address, d.driver])).toEqual([
      ['0000:00:01.0', 'pcieport'],
      ['0000:01:00.0', 'vfio-pci'],
      ['0000:01:00.1', 'vfio-pci'],
    ]);
  });
});

describe('colour', () => {
  it('is off when stdout is a pipe or a file (scripts, CI): no escape codes', () => {
    const h = makeSimulatedHost('workstation');
    hosts.push(h);
    const r = runBin(['group-info', '01:00.0', '--root', h.root], { NO_COLOR: '' });
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^IOMMU group \d+: not viable for VFIO\n/);
    expect(r.stdout).not.toContain('\u001b[');
  });
});
