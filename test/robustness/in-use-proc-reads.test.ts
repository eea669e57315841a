import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { runBin } from '../helpers/cli.js';
import { countFsCalls } from '../helpers/fs-calls.js';
import { useSimulatedHosts } from '../helpers/sim-host.js';
import { domainXml, tempFile } from '../helpers/xml.js';

const host = useSimulatedHosts();

/** The calls of a command run in-process that look for processes: the listing of ROOT/proc, and ROOT/proc/PID/... */
async function procCalls(args: string[], root: string): Promise<string[]> {
  const proc = path.join(root, 'proc');
  return (await countFsCalls(args)).paths.filter((p) => p.endsWith(` ${proc}`) || p.includes(`${proc}/`) && /^[0-9]/.test(p.split(`${proc}/`)[1]!));
}

// src/run/in-use.ts: ROOT/proc is read only when a group's open answered EBUSY (who holds it?) or a device has a
// vfio cdev (an open cdev not yet bound to iommufd leaves the group's open free, so only /proc shows it).
describe('a reattach looks in ROOT/proc only when the probe cannot answer alone', () => {
  it('no cdev and the group opened fine (workstation): not one read under ROOT/proc, with processes there', async () => {
    const h = host('workstation');
    const xml = tempFile('gpu.xml', domainXml('gpu', [{ address: '0000:01:00.0', group: 'auto' }]));
    expect(runBin(['detach', xml, '--root', h.root]).code).toBe(0);
    fs.mkdirSync(path.join(h.root, 'proc/77/fd'), { recursive: true });
    fs.symlinkSync('/dev/null', path.join(h.root, 'proc/77/fd/0'));
    expect(await procCalls(['reattach', xml, '--root', h.root], h.root)).toEqual([]);
  });

  it('a device with a vfio cdev (modern-vfio): ROOT/proc is read, once per process', async () => {
    const h = host('modern-vfio');
    const xml = tempFile('nfv.xml', domainXml('nfv', [{ address: '0000:01:00.2' }]));
    expect(runBin(['detach', xml, '--root', h.root]).code).toBe(0);
    fs.mkdirSync(path.join(h.root, 'proc/77/fd'), { recursive: true });
    fs.symlinkSync('/dev/null', path.join(h.root, 'proc/77/fd/0'));
    const calls = await procCalls(['reattach', xml, '--root', h.root], h.root);
    expect(calls.filter((c) => c.endsWith('/proc/77/fd'))).toHaveLength(1);
  });
});
