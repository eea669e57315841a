import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { HostTreeError } from '../../src/errors.js';
import { Journal, type JournalData } from '../../src/run/journal.js';
import { runDetach } from '../../src/run/detach.js';
import { AUDIO, GPU, gpuDomain, session, watched, workstation } from './workstation.js';

/** The journal in-process: what is on disk before the first write, after every step, and at the end. */
const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) fs.rmSync(d, { recursive: true, force: true });
});
function tempDir(): string {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), 'vfioctl-journal-'));
  dirs.push(d);
  return path.join(d, 'state');
}
const onDisk = (file: string): JournalData => JSON.parse(fs.readFileSync(file, 'utf8')) as JournalData;
const original = (driver: string | null) => ({ driver, override: null, method: 'driver_override' as const, vendor: '10de', device: '1b80' });

describe('the journal during a detach', () => {
  it('records every original driver before the first write, and each completed step after it', () => {
    const root = workstation();
    const seen: { write: number; done: number | undefined; devices: string[]; drivers: (string | null)[] }[] = [];
    const s = session(root, (k) =>
      watched(k, (n) => {
        const j = onDisk(s.journal.file);
        seen.push({ write: n, done: j.operation?.done, devices: Object.keys(j.devices), drivers: Object.values(j.devices).map((d) => d.driver) });
      }),
    );
    runDetach(gpuDomain(), s, false, 'detach vm.xml');
    // Seen right after write n, before its stepDone: the journal says n - 1 steps are done.
    expect(seen).toEqual(
      [1, 2, 3, 4, 5, 6].map((n) => ({ write: n, done: n - 1, devices: [GPU, AUDIO], drivers: ['nouveau', 'snd_hda_intel'] })),
    );
  });

  it('finish: the operation is closed and the moved devices stay recorded, with who moved them', () => {
    const root = workstation();
    const s = session(root);
    runDetach(gpuDomain(), s, false, 'detach vm.xml');
    const j = onDisk(s.journal.file);
    expect(j.operation).toBeNull();
    expect(Object.entries(j.devices).map(([a, d]) => [a, d.driver, d.override, d.method, d.by])).toEqual([
      [GPU, 'nouveau', null, 'driver_override', 'detach vm.xml'],
      [AUDIO, 'snd_hda_intel', null, 'driver_override', 'detach vm.xml'],
    ]);
  });
});

describe('the journal as a file', () => {
  it('keeps the first record of a device vfioctl already moved', () => {
    const j = new Journal(tempDir());
    j.recordPriorBindings([[GPU, original('nouveau')]], 'detach a.xml');
    j.recordPriorBindings([[GPU, original('vfio-pci')], [AUDIO, original('snd_hda_intel')]], 'detach b.xml');
    j.save();
    const data = onDisk(j.file);
    expect([data.devices[GPU]!.driver, data.devices[GPU]!.by]).toEqual(['nouveau', 'detach a.xml']);
    expect(data.devices[AUDIO]!.by).toBe('detach b.xml');
  });

  it('begin, stepDone and finish are on disk at once; a fresh Journal reads them back', () => {
    const dir = tempDir();
    const j = new Journal(dir);
    j.begin('detach vm.xml', [{ hostPath: '/sys/bus/pci/drivers_probe', value: GPU }]);
    expect(new Journal(dir).data.operation).toMatchObject({ command: 'detach vm.xml', done: 0, pid: process.pid });
    j.stepDone(0);
    expect(new Journal(dir).data.operation!.done).toBe(1);
    j.finish();
    expect(new Journal(dir).data.operation).toBeNull();
    expect(fs.readdirSync(dir)).toEqual(['journal.json']);
  });

  it('a damaged journal is an error that says what to do, not an empty memory', () => {
    const dir = tempDir();
    fs.mkdirSync(dir, { recursive: true });
    fs.writeFileSync(path.join(dir, 'journal.json'), '{"version": 1, "devi');
    expect(() => new Journal(dir)).toThrow(HostTreeError);
  });
});
