import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, describe, expect, it, vi } from 'vitest';
import { HostTreeError } from '../../src/errors.js';
import { HostReader } from '../../src/host/reader.js';
import { SimulatedKernel } from '../../src/mock/kernel/simulated.js';
import { runBin, runCli } from '../helpers/cli.js';
import { useSimulatedHosts } from '../helpers/sim-host.js';
import { domainXml, tempFile } from '../helpers/xml.js';
import { drivers, journal, report, Tally } from './campaign.js';

/**
 * Devices stranded, and vfioctl's own files written where they must not be (issue 16): the journal and the
 * lock kept inside --root; a full or read-only run/ and any failure after the first write rolled back;
 * damaged journals refused naming the field; journal devices that are gone, never moved, or held by a stale
 * driver_override handled by reattach; and a random-SIGKILL loop that always ends with every device home.
 */
const simulatedHost = useSimulatedHosts();
const tally = new Tally();
afterAll(() => report(tally.summary('devices stranded, vfioctl\'s files')));
afterEach(() => vi.restoreAllMocks());

const GPU = '0000:01:00.0';
const AUDIO = '0000:01:00.1';
const gpuXml = (): string => tempFile('vm.xml', domainXml('vm', [{ address: GPU, group: 'auto' }]));
const stateDir = (root: string): string => path.join(root, 'run/vfioctl');

/** Records a case in the tally, then asserts each of its checks (so a failure names the first check that failed). */
function check(name: string, detail: string, checks: [string, boolean][]): void {
  tally.record(name, checks.every(([, ok]) => ok), `${checks.filter(([, ok]) => !ok).map(([c]) => c).join(', ')}; ${detail}`);
  for (const [c, ok] of checks) expect(ok, `${c} (${detail})`).toBe(true);
}

const sentinels: string[] = [];
afterEach(() => {
  while (sentinels.length) fs.rmSync(sentinels.pop()!, { recursive: true, force: true });
});
function sentinel(): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vfioctl-sentinel-'));
  sentinels.push(dir);
  return dir;
}

describe('the journal and the lock stay inside the root', () => {
  it.each([
    ['run is a symlink out of the root', 'run'],
    ['run/vfioctl is a symlink out of the root', 'run/vfioctl'],
  ])('%s: detach ends in exit 13 naming it, nothing written outside', (name, rel) => {
    const h = simulatedHost('workstation');
    const outside = sentinel();
    const before = drivers(h.root);
    fs.mkdirSync(path.dirname(path.join(h.root, rel)), { recursive: true });
    fs.rmSync(path.join(h.root, rel), { recursive: true, force: true });
    fs.symlinkSync(outside, path.join(h.root, rel));
    const r = runBin(['detach', gpuXml(), '--root', h.root]);
    const left = fs.readdirSync(outside);
    check(name, `exit ${r.code}: ${r.stderr.trim()} outside: ${left.join(' ')}`, [
      ['exit 13', r.code === 13],
      ['names the state directory and the root', /outside the host root/.test(r.stderr) && r.stderr.includes('run')],
      ['nothing written outside', left.length === 0],
      ['no device moved', JSON.stringify(drivers(h.root)) === JSON.stringify(before)],
    ]);
  });
});

/** Makes the journal's saves fail with `errno` from the `from`-th save on (1-based), as a full or read-only file system would. */
function failJournalSaves(errno: string, from: number): void {
  let saves = 0;
  const realOpen = fs.openSync;
  vi.spyOn(fs, 'openSync').mockImplementation(((file: fs.PathLike, ...rest: unknown[]) => {
    if (/journal\.json\.\d+\.tmp$/.test(String(file))) {
      saves += 1;
      if (saves >= from) {
        // ENOSPC: the temp file is made, its content does not fit; EROFS: it cannot be made at all.
        if (errno === 'ENOSPC') fs.writeFileSync(String(file), '');
        throw Object.assign(new Error(`${errno}: simulated, open '${String(file)}'`), { code: errno });
      }
    }
    return (realOpen as (...a: unknown[]) => number)(file, ...rest);
  }) as typeof fs.openSync);
}

const tmpFiles = (root: string): string[] => (fs.existsSync(stateDir(root)) ? fs.readdirSync(stateDir(root)).filter((f) => f.endsWith('.tmp')) : []);

describe('a full or read-only run/', () => {
  it.each([
    ['ENOSPC', 1, 'before the first write'],
    ['EROFS', 1, 'before the first write'],
    ['ENOSPC', 2, 'after the first write'],
    ['EROFS', 3, 'after the second write'],
  ])('the journal cannot be saved (%s, save %i, %s): exit 15 naming it, every device back, no temp file left', async (errno, from, when) => {
    const h = simulatedHost('workstation');
    const before = drivers(h.root);
    failJournalSaves(errno, from);
    const r = await runCli(['detach', gpuXml(), '--root', h.root]);
    vi.restoreAllMocks();
    const after = drivers(h.root);
    const back = await runCli(['reattach', '--all', '--root', h.root]);
    check(`journal save fails with ${errno} ${when}`, `exit ${r.code}: ${r.stderr.trim()}`, [
      ['exit 15', r.code === 15],
      ['names the journal and the errno', r.stderr.includes('journal.json') && r.stderr.includes(errno)],
      ['says why in words', /file system is (full|read-only)/.test(r.stderr)],
      ['says what was undone', from === 1 ? /Nothing was detached/.test(r.stderr) : /Rolled back/.test(r.stderr)],
      ['every device on its original driver', JSON.stringify(after) === JSON.stringify(before)],
      ['no temp file left', tmpFiles(h.root).length === 0],
      ['reattach --all then works', back.code === 0 && Object.keys(journal(h.root).devices).length === 0],
    ]);
  });
});

describe('any failure after the first write rolls back', () => {
  it('a read error while verifying the first probe: every device back, then list and reattach work', async () => {
    const h = simulatedHost('workstation');
    const before = drivers(h.root);
    let writes = 0;
    const realWrite = SimulatedKernel.prototype.write;
    vi.spyOn(SimulatedKernel.prototype, 'write').mockImplementation(function (this: SimulatedKernel, w) {
      realWrite.call(this, w);
      writes += 1;
    });
    const realTry = HostReader.prototype.tryDevice;
    let thrown = false;
    vi.spyOn(HostReader.prototype, 'tryDevice').mockImplementation(function (this: HostReader, addr) {
      // Write 5 is the GPU's drivers_probe: its verify reads the tree, and that read fails once.
      if (writes === 5 && !thrown) {
        thrown = true;
        throw new HostTreeError(`Cannot read ${GPU}/vendor: EIO (simulated).`);
      }
      return realTry.call(this, addr);
    });
    const r = await runCli(['detach', gpuXml(), '--root', h.root]);
    vi.restoreAllMocks();
    const after = drivers(h.root);
    const list = runBin(['list', '--root', h.root]);
    const back = runBin(['reattach', '--all', '--root', h.root]);
    check('a read error while verifying', `exit ${r.code}: ${r.stderr.trim()} | list ${list.code} | reattach ${back.code} ${back.stderr.trim()}`, [
      ['the read error was hit', thrown],
      ['exit 13 with the read error', r.code === 13 && r.stderr.includes('EIO (simulated)')],
      ['says it rolled back', /Rolled back: .*0000:01:00\.0/.test(r.stderr)],
      ['every device on its original driver', JSON.stringify(after) === JSON.stringify(before)],
      ['list works', list.code === 0],
      ['reattach --all works', back.code === 0],
      ['the journal is empty', Object.keys(journal(h.root).devices).length === 0 && journal(h.root).operation === null],
    ]);
  });
});
