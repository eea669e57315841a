import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { json, runCli } from '../helpers/cli.js';
import { makeSimulatedHost } from '../helpers/sim-host.js';
import { domainXml, tempFile } from '../helpers/xml.js';

/** `vfioctl snapshot`, and the read-only commands planning against a snapshot file with --root FILE.json. */
describe('snapshots', () => {
  const h = makeSimulatedHost('workstation');
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vfioctl-snap-'));
  afterAll(() => {
    h.cleanup();
    fs.rmSync(dir, { recursive: true, force: true });
  });
  const snap = path.join(dir, 'ws.json');

  it('records the topology and nothing that identifies the machine, writing nothing to the host', async () => {
    const r = await runCli(['snapshot', '--name', 'ws', '-o', snap, '--root', h.root]);
    expect(r.code).toBe(0);
    expect(r.stderr).toMatch(/Wrote .*ws\.json: 11 PCI devices, 9 IOMMU groups/);
    const text = fs.readFileSync(snap, 'utf8');
    expect(text).not.toMatch(/([0-9a-f]{2}:){5}[0-9a-f]{2}/i); // no MAC address
    const keys = new Set<string>();
    JSON.parse(text, (k, v) => (keys.add(k.toLowerCase()), v));
    for (const k of keys) expect(k).not.toMatch(/host(name)?$|mac|serial|uuid|address_?assign/);
    expect(JSON.parse(text)).toMatchObject({ format: 'vfioctl-host/1', name: 'ws', kernel: { release: '6.1.0-27-amd64' } });
    expect(fs.readFileSync(path.join(h.root, '.vfioctl-sim/writes.log'), 'utf8')).toBe('');
  });

  it('list, group-info, check and detach --dry-run read a snapshot as they read the host', async () => {
    const onHost = json(await runCli(['list', '--json', '--root', h.root]));
    expect(json(await runCli(['list', '--json', '--root', snap]))).toEqual(onHost);
    expect(json(await runCli(['group-info', '01:00.0', '--json', '--root', snap])).autoWouldMove).toEqual(['0000:01:00.0', '0000:01:00.1']);
    const xml = tempFile('gpu.xml', domainXml('gpu', [{ address: '0000:01:00.0', group: 'auto' }]));
    expect((await runCli(['check', xml, '--root', snap])).code).toBe(0);
    const dry = json(await runCli(['detach', xml, '--dry-run', '--json', '--root', snap]));
    expect(dry.writes).toEqual(json(await runCli(['detach', xml, '--dry-run', '--json', '--root', h.root])).writes);
  });

  it('a snapshot is a record, not a host: detach and reattach refuse it', async () => {
    const xml = tempFile('gpu.xml', domainXml('gpu', [{ address: '0000:01:00.0', group: 'auto' }]));
    const r = await runCli(['detach', xml, '--root', snap]);
    expect(r.code).toBe(3);
    expect(r.stderr).toMatch(/is a snapshot: it can be read and planned against/);
    expect(r.stderr).toMatch(/vfioctl mock create/);
    expect((await runCli(['reattach', '--all', '--root', snap])).code).toBe(3);
  });
});
