import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { HostTreeError } from '../../src/errors.js';
import { ReadAhead } from '../../src/host/read-ahead.js';
import { HostReader, type DeviceLocation } from '../../src/host/reader.js';
import { ATTRIBUTE_FLAGS } from '../../src/host/sysfs-read.js';
import type { PciDevice } from '../../src/pci/device.js';
import { largeHost } from '../helpers/large-host.js';
import { useSimulatedHosts } from '../helpers/sim-host.js';

/**
 * list on a large host reads each function's uevent, driver_override and reset_method on a second thread
 * (src/host/read-ahead.ts) while it reports the groups before. What it reads must be what the main thread would
 * have read, and anything but a plain file (missing, a FIFO, too long, a thread that does not move) must end
 * as it does without the thread: the main thread reads it itself, with its own errors.
 */
const simulated = useSimulatedHosts();
const scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'vfioctl-read-ahead-'));
afterAll(() => fs.rmSync(scratch, { recursive: true, force: true }));

const FILES = ['uevent', 'driver_override', 'reset_method'];

function dirWith(name: string, files: Record<string, string | 'fifo' | 'dir'>): string {
  const dir = path.join(scratch, name);
  fs.mkdirSync(dir, { recursive: true });
  for (const [f, content] of Object.entries(files)) {
    const p = path.join(dir, f);
    if (content === 'fifo') expect(spawnSync('mkfifo', [p]).status).toBe(0);
    else if (content === 'dir') fs.mkdirSync(p);
    else fs.writeFileSync(p, content);
  }
  return dir;
}

/** Every function of a scan, read with readAt, in list's order. */
function readAll(reader: HostReader): PciDevice[] {
  const out: PciDevice[] = [];
  for (const { members } of reader.scan().groups()) for (const loc of members) out.push(reader.readAt(loc));
  return out;
}

describe('ReadAhead: what the thread answers', () => {
  it("gives each file's text, undefined for a missing one, and leaves the rest to the caller", () => {
    const plain = dirWith('plain', { uevent: 'DRIVER=igbvf\nPCI_CLASS=20000\n', driver_override: '(null)\n', reset_method: 'flr\n' });
    const odd = dirWith('odd', { uevent: 'fifo', driver_override: '', reset_method: 'x'.repeat(5000) });
    const gone = path.join(scratch, 'gone');
    const asDir = dirWith('as-dir', { uevent: 'dir' });
    const ahead = ReadAhead.prepare(4, FILES, ATTRIBUTE_FLAGS, 0)!;
    expect(ahead).toBeDefined(); // this machine has a second core (as every kind the project runs on)
    ahead.begin([plain, odd, gone, asDir]);
    expect([0, 1, 2].map((k) => ahead.take(0, k))).toEqual(['DRIVER=igbvf\nPCI_CLASS=20000\n', '(null)\n', 'flr\n']);
    // A FIFO (which an open without O_NONBLOCK would wait on forever), an empty file and one longer than a
    // read's room: the caller reads them itself, and says what they are.
    expect([0, 1, 2].map((k) => ahead.take(1, k))).toEqual([null, null, null]);
    expect([0, 1, 2].map((k) => ahead.take(2, k))).toEqual([undefined, undefined, undefined]);
    // A directory where the kernel has a file: not a missing file; the caller's read names it.
    expect(ahead.take(3, 0)).toBeNull();
    expect(ahead.take(3, 1)).toBeUndefined();
  });

  it('a thread that does not move is given up after a second, and from then on the caller reads everything', () => {
    const dir = dirWith('stalled', { uevent: 'DRIVER=x\n' });
    const ahead = ReadAhead.prepare(1, FILES, ATTRIBUTE_FLAGS, 0)!;
    // Never told what to read: as a thread that hangs or died.
    const t = performance.now();
    expect(ahead.take(0, 0)).toBeNull();
    const waited = performance.now() - t;
    expect(waited).toBeGreaterThanOrEqual(900);
    expect(waited).toBeLessThan(10_000);
    ahead.begin([dir]);
    const again = performance.now();
    expect(ahead.take(0, 1)).toBeNull();
    expect(performance.now() - again).toBeLessThan(100);
  });

  it('no thread for a small host', () => {
    expect(ReadAhead.prepare(100, FILES, ATTRIBUTE_FLAGS)).toBeUndefined();
  });
});

describe("list's scan with the thread reads every function as the main thread alone does", () => {
  const host = largeHost(300);

  it('the same devices, field by field, and the thread really read them', () => {
    const h = simulated(host.desc);
    const alone = readAll(new HostReader(h.root, 'scan'));
    const reader = new HostReader(h.root, 'scan', 0);
    const scan = reader.scan();
    const locations: DeviceLocation[] = [];
    for (const { members } of scan.groups()) locations.push(...members);
    expect(locations.length).toBe(alone.length);
    expect(locations.every((l) => l.ahead !== undefined)).toBe(true);
    // Let the thread finish, then change every uevent on disk: what readAt returns comes from the thread.
    const last = locations.at(-1)!.ahead!;
    expect(last.source.take(last.at, 2)).not.toBeNull();
    for (const l of locations) fs.writeFileSync(`${l.dir}/uevent`, 'PCI_CLASS=FFFFFF\n');
    expect(locations.map((l) => reader.readAt(l))).toEqual(alone);
  });

  it("a FIFO planted as a function's uevent is the same clear error, not a hang", () => {
    const h = simulated(host.desc);
    const victim = host.desc.devices.find((d) => d.physfn !== undefined)!.address;
    const uevent = `${fs.realpathSync(`${h.root}/sys/bus/pci/devices/${victim}`)}/uevent`;
    fs.rmSync(uevent);
    expect(spawnSync('mkfifo', [uevent]).status).toBe(0);
    const reader = new HostReader(h.root, 'scan', 0);
    const read = (): PciDevice[] => {
      const out: PciDevice[] = [];
      for (const { members } of reader.scan().groups()) for (const loc of members) out.push(reader.readAt(loc));
      return out;
    };
    expect(read).toThrow(HostTreeError);
    expect(read).toThrow(`Cannot read ${uevent}: it is a pipe or socket, where the kernel has a file`);
  });
});
