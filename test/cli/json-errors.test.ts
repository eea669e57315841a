import { describe, expect, it } from 'vitest';
import { injectFault, readSimState } from '../../src/mock/kernel/sim-state.js';
import { drivers } from '../robustness/campaign.js';
import { runBin } from '../helpers/cli.js';
import { useSimulatedHosts } from '../helpers/sim-host.js';
import { domainXml, tempFile } from '../helpers/xml.js';

const simulatedHost = useSimulatedHosts();
const gpuXml = (): string => tempFile('gpu.xml', domainXml('gpu', [{ address: '0000:01:00.0', group: 'auto' }]));

/** The one JSON object a failure prints on stdout with --json. */
function errorObject(stdout: string): Record<string, unknown> {
  const parsed = JSON.parse(stdout) as { error: Record<string, unknown> };
  expect(Object.keys(parsed)).toEqual(['error']);
  return parsed.error;
}

describe('--json on failure: one JSON object on stdout, the text still on stderr', () => {
  it('a detach refused by the kernel (EBUSY) and rolled back: exit 10, what was written, refused and restored', () => {
    const h = simulatedHost('workstation');
    injectFault(h.root, { kind: 'fail', errno: 'EBUSY', position: readSimState(h.root).writes + 3, times: 'once' });
    const r = runBin(['detach', gpuXml(), '--json', '--root', h.root]);
    expect(r.code).toBe(10);
    expect(r.stderr).toMatch(/^vfioctl: Detach failed at step 3 of \d+: Failed to write .* EBUSY/);
    const e = errorObject(r.stdout);
    expect(e).toMatchObject({ exitCode: 10, kind: 'kernelRefused', hint: null, restored: ['0000:01:00.0', '0000:01:00.1'], left: [] });
    expect(e.message).toMatch(/^Detach failed at step 3/);
    expect(e.failedStep).toMatchObject({ index: 2, reason: expect.stringContaining('EBUSY') });
    expect((e.writes as { path: string }[])[0]!.path).toBe('/sys/bus/pci/devices/0000:01:00.0/driver_override');
    expect(drivers(h.root)).toMatchObject({ '0000:01:00.0': 'nouveau', '0000:01:00.1': 'snd_hda_intel' });
  });

  it('a reattach that cannot restore a device: exit 11, what went back and what is left', () => {
    const h = simulatedHost('workstation');
    const xml = gpuXml();
    expect(runBin(['detach', xml, '--root', h.root]).code).toBe(0);
    injectFault(h.root, { kind: 'fail', errno: 'EIO', path: '/sys/bus/pci/drivers/nouveau/bind', times: 'always' });
    const r = runBin(['reattach', xml, '--json', '--root', h.root]);
    expect(r.code).toBe(11);
    expect(r.stderr).toContain('vfioctl: Reattach could not restore everything');
    const e = errorObject(r.stdout);
    expect(e).toMatchObject({ exitCode: 11, kind: 'rollbackIncomplete', restored: ['0000:01:00.1'], left: [{ device: '0000:01:00.0' }] });
    expect(e.hint).toContain('reattach --all');
  });

  it('not found, usage and a bad option value: the same shape', () => {
    const h = simulatedHost('workstation');
    const notFound = runBin(['group-info', '05:00.0', '--json', '--root', h.root]);
    expect(notFound.code).toBe(4);
    expect(errorObject(notFound.stdout)).toMatchObject({ exitCode: 4, kind: 'notFound' });
    expect(notFound.stderr).toMatch(/^vfioctl: /);
    const usage = runBin(['list', '--json', '--bogus']);
    expect(usage.code).toBe(2);
    expect(errorObject(usage.stdout)).toEqual({ exitCode: 2, kind: 'usage', message: "unknown option '--bogus'", hint: 'run vfioctl --help for usage' });
    expect(usage.stderr).toContain("error: unknown option '--bogus'");
  });

  it('without --json a failure prints nothing on stdout', () => {
    const h = simulatedHost('workstation');
    const r = runBin(['group-info', '05:00.0', '--root', h.root]);
    expect(r).toMatchObject({ code: 4, stdout: '' });
  });
});
