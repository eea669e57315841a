import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, afterEach, describe, expect, it, vi } from 'vitest';
import { HostTreeError } from '../../src/errors.js';
import { HostReader } from '../../src/host/reader.js';
import { clearFaults, injectFault, readSimState } from '../../src/mock/kernel/sim-state.js';
import { SimulatedKernel } from '../../src/mock/kernel/simulated.js';
import { BIN, runBin, runCli, yieldToRunner } from '../helpers/cli.js';
import { useSentinels } from '../helpers/sentinel.js';
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

const sentinel = useSentinels();

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
  ])('the journal cannot be saved (%s, save %i, %s): exit 16 naming it, every device back, no temp file left', async (errno, from, when) => {
    const h = simulatedHost('workstation');
    const before = drivers(h.root);
    failJournalSaves(errno, from);
    const r = await runCli(['detach', gpuXml(), '--root', h.root]);
    vi.restoreAllMocks();
    const after = drivers(h.root);
    const back = await runCli(['reattach', '--all', '--root', h.root]);
    check(`journal save fails with ${errno} ${when}`, `exit ${r.code}: ${r.stderr.trim()}`, [
      ['exit 16', r.code === 16],
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

/** A detach of the GPU through bin/, then the journal as a plain object to damage. */
function detached(): { root: string; before: Record<string, string | null>; file: string; data: any } {
  const h = simulatedHost('workstation');
  const before = drivers(h.root);
  expect(runBin(['detach', gpuXml(), '--root', h.root]).code).toBe(0);
  const file = path.join(stateDir(h.root), 'journal.json');
  return { root: h.root, before, file, data: JSON.parse(fs.readFileSync(file, 'utf8')) };
}

describe('damaged journals', () => {
  const damages: [string, (d: any) => void, RegExp][] = [
    ['devices is a list', (d) => (d.devices = []), /devices is an array, not an object/],
    ['a device record is a number', (d) => (d.devices[GPU] = 7), /devices\["0000:01:00\.0"\] is a number/],
    ['a driver is a number', (d) => (d.devices[GPU].driver = 42), /devices\["0000:01:00\.0"\]\.driver is a number, not a driver name/],
    ['a driver name with a slash', (d) => (d.devices[GPU].driver = '../../x'), /\.driver is '\.\.\/\.\.\/x', not a driver name/],
    ['an override that is an object', (d) => (d.devices[AUDIO].override = {}), /devices\["0000:01:00\.1"\]\.override is a object/],
    ['an unknown method', (d) => (d.devices[GPU].method = 'magic'), /\.method is 'magic'/],
    ['a vendor that is not hex', (d) => (d.devices[GPU].vendor = 'zz'), /\.vendor is 'zz', not a 4-digit hex ID/],
    ['a device not named by an address', (d) => (d.devices['nope'] = d.devices[GPU]), /devices\["nope"\] is not named by a PCI address/],
    ['an operation whose steps are a string', (d) => (d.operation = { command: 'x', pid: 1, started: '', steps: 'all', done: 0 }), /operation\.steps is 'all', not a list/],
    ['an operation done past its steps', (d) => (d.operation = { command: 'x', pid: 1, started: '', steps: [], done: 3 }), /operation\.done is 3, more than its 0 steps/],
    ['version 2', (d) => (d.version = 2), /version is a number, not 1/],
    ['an interface name with a slash', (d) => (d.devices[GPU].interfaces = ['../eth0']), /devices\["0000:01:00\.0"\]\.interfaces holds '\.\.\/eth0', not an interface name/],
  ];
  it.each(damages)('%s: reattach --all exits 13 naming the field, nothing written', (name, damage, message) => {
    const { root, file, data } = detached();
    damage(data);
    fs.writeFileSync(file, JSON.stringify(data));
    const was = drivers(root);
    const r = runBin(['reattach', '--all', '--root', root]);
    check(`damaged journal: ${name}`, `exit ${r.code}: ${r.stderr.trim()}`, [
      ['exit 13', r.code === 13],
      ['says the journal is damaged, naming the field', /journal .* is damaged: /.test(r.stderr) && message.test(r.stderr)],
      ['nothing moved', JSON.stringify(drivers(root)) === JSON.stringify(was)],
    ]);
  });

  it('a 1 GB journal: refused by its size at once (exit 13), never read whole', () => {
    const { root, file } = detached();
    fs.truncateSync(file, 1024 ** 3);
    const t = Date.now();
    const r = runBin(['reattach', '--all', '--root', root]);
    check('a 1 GB journal', `exit ${r.code} in ${Date.now() - t} ms: ${r.stderr.trim()}`, [
      ['exit 13', r.code === 13],
      ['says it is too large and damaged', /larger than 16777216 bytes; it is damaged/.test(r.stderr)],
    ]);
  });
});

describe('reattach and the devices the journal names', () => {
  it('a journal device that was hot-unplugged: said to be gone, dropped, the rest restored (exit 0)', () => {
    const { root, before } = detached();
    // The audio function is removed from the bus, as a hot-unplug does: its device directory and links go.
    const link = path.join(root, 'sys/bus/pci/devices', AUDIO);
    const real = fs.realpathSync(link);
    fs.rmSync(real, { recursive: true });
    for (const l of [link, path.join(root, 'sys/kernel/iommu_groups/1/devices', AUDIO), path.join(root, 'sys/bus/pci/drivers/vfio-pci', AUDIO)]) fs.rmSync(l, { force: true });
    const r = runBin(['reattach', '--all', '--root', root]);
    const now = drivers(root);
    check('a hot-unplugged journal device', `exit ${r.code}: ${r.stdout.trim()} ${r.stderr.trim()}`, [
      ['exit 0', r.code === 0],
      ['says it is gone', r.stdout.includes(`${AUDIO} is no longer on the PCI bus`)],
      ['the GPU is back', now[GPU] === before[GPU]],
      ['the journal is empty', Object.keys(journal(root).devices).length === 0 && journal(root).operation === null],
    ]);
  });

  it('a journal entry for a device vfioctl never moved (the SATA controller holding /): left alone, said, the rest restored', () => {
    const { root, before, file, data } = detached();
    const SATA = '0000:00:17.0';
    data.devices[SATA] = { ...data.devices[GPU], driver: 'nvme', override: 'nvme', vendor: '8086', device: 'a352' };
    fs.writeFileSync(file, JSON.stringify(data));
    const r = runBin(['reattach', '--all', '--root', root]);
    const writes = fs.readFileSync(path.join(root, '.vfioctl-sim/writes.log'), 'utf8');
    check('a journal entry for a device never moved', `exit ${r.code}: ${r.stdout.trim()} ${r.stderr.trim()}`, [
      ['exit 0', r.code === 0],
      ['nothing written to the SATA controller', !writes.includes(SATA)],
      ['says it was skipped and why', r.stdout.includes(`${SATA} is on ahci`) && /vfioctl did not move it/.test(r.stdout) && /holds .*\//.test(r.stdout)],
      ['every device as before the detach', JSON.stringify(drivers(root)) === JSON.stringify(before)],
      ['the journal is empty', Object.keys(journal(root).devices).length === 0],
    ]);
  });

  it('a stale driver_override found on the GPU before the detach: reattach clears it and binds nouveau (exit 0)', () => {
    const h = simulatedHost('workstation');
    const before = drivers(h.root);
    fs.writeFileSync(path.join(h.root, 'sys/bus/pci/devices', GPU, 'driver_override'), 'pci-stub\n');
    expect(runBin(['detach', gpuXml(), '--root', h.root]).code).toBe(0);
    const recorded = journal(h.root).devices[GPU] as { override: string | null };
    const r = runBin(['reattach', '--all', '--root', h.root]);
    const again = runBin(['reattach', '--all', '--root', h.root]);
    check('a stale driver_override', `exit ${r.code}: ${r.stdout.trim()} ${r.stderr.trim()}`, [
      ['the journal recorded the override as found', recorded.override === 'pci-stub'],
      ['exit 0', r.code === 0],
      ['says the override is cleared', r.stdout.includes("driver_override 'pci-stub'")],
      ['every device on its original driver', JSON.stringify(drivers(h.root)) === JSON.stringify(before)],
      ['a second reattach has nothing to do', again.code === 0],
    ]);
  });

  it('a failed reattach (EIO on nouveau/bind every time) names each device and its driver now (exit 11)', () => {
    const { root } = detached();
    injectFault(root, { kind: 'fail', path: '/sys/bus/pci/drivers/nouveau/bind', errno: 'EIO', times: 'always' });
    const r = runBin(['reattach', '--all', '--root', root]);
    check('a failed reattach names the drivers now', `exit ${r.code}: ${r.stderr.trim()}`, [
      ['exit 11', r.code === 11],
      ['names the GPU and its driver now', r.stderr.includes(`${GPU} is on no driver (recorded: nouveau)`)],
      ['names the audio function and its driver now', r.stderr.includes(`${AUDIO} is on snd_hda_intel`)],
      ['the journal keeps the GPU only', JSON.stringify(Object.keys(journal(root).devices)) === JSON.stringify([GPU])],
    ]);
  });
});

describe('the lock', () => {
  it.each([
    ['pid 0', { pid: 0, start: null, command: 'x', since: '' }],
    ['pid 1', { pid: 1, start: null, command: 'x', since: '' }],
    ['no pid', {}],
  ])('a lock file naming %s names no holder: it is taken over, the detach runs', (name, owner) => {
    const h = simulatedHost('workstation');
    fs.mkdirSync(stateDir(h.root), { recursive: true });
    fs.writeFileSync(path.join(stateDir(h.root), 'lock'), JSON.stringify(owner));
    const r = runBin(['detach', gpuXml(), '--lock-timeout', '1', '--root', h.root]);
    check(`a lock with ${name}`, `exit ${r.code}: ${r.stderr.trim()}`, [
      ['exit 0', r.code === 0],
      ['the GPU moved', drivers(h.root)[GPU] === 'vfio-pci'],
      ['the lock is gone', !fs.existsSync(path.join(stateDir(h.root), 'lock'))],
    ]);
  });
});

/**
 * The "Done when": rounds of a detach and then a reattach, each killed with SIGKILL at a random
 * moment (after a random write, through the simulated kernel's crash fault, or by a timer at a random
 * instant, which may fall between a write and its journal entry or inside a journal save), then one
 * `reattach --all`. Every round must end with every device on its original driver and the journal empty.
 * ROUNDS is sized for about two minutes on a loaded 2-core machine.
 */
const ROUNDS = 75;
const killTally = new Tally();
afterAll(() => report(killTally.summary(`random SIGKILL during detach and reattach (${kills} kills), then reattach --all`)));
let kills = 0;

/**
 * Runs bin/ and kills it, half the time right after one of its next four writes (the crash fault), else by a
 * timer at a random instant within `runMs`, how long a whole run took last.
 */
function killedRun(root: string, args: string[], random: () => number, runMs: number): string | null {
  if (random() < 0.5) {
    injectFault(root, { kind: 'crash', position: readSimState(root).writes + 1 + Math.floor(random() * 4), times: 'once' });
    const r = runBin(args);
    clearFaults(root); // a crash fault past the last write is not left for the next command
    return r.signal ?? null;
  }
  const r = spawnSync(process.execPath, [BIN, ...args], { env: { ...process.env, NO_COLOR: '1', VFIOCTL_PCI_IDS: '' }, timeout: 20 + Math.floor(random() * runMs), killSignal: 'SIGKILL' });
  return r.signal ?? null;
}

describe('random SIGKILL loop', () => {
  it(`${ROUNDS} rounds of a detach and a reattach killed at random moments, then reattach --all: every device home, the journal empty`, async () => {
    let seed = 16;
    const random = (): number => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
    const h = simulatedHost('workstation');
    const xml = gpuXml();
    const before = drivers(h.root);
    let runMs = 300;
    for (let round = 1; round <= ROUNDS; round++) {
      const detach = ['detach', xml, '--root', h.root];
      const reattach = ['reattach', '--all', '--root', h.root];
      // A detach, a reattach, and a detach again over what they left, each killed; then the clean reattach.
      const killed = [detach, reattach, detach].map((args) => killedRun(h.root, args, random, runMs));
      kills += killed.filter((s) => s === 'SIGKILL').length;
      const t = Date.now();
      const back = runBin(reattach);
      runMs = Math.max(100, Date.now() - t);
      const j = journal(h.root);
      const home = back.code === 0 && tmpFiles(h.root).length === 0 && JSON.stringify(drivers(h.root)) === JSON.stringify(before) && Object.keys(j.devices).length === 0 && j.operation === null;
      killTally.record(`round ${round}`, home, `killed: ${killed.join(', ')}; temp files: ${tmpFiles(h.root).join(' ')}; reattach --all exit ${back.code} ${back.stderr.trim()}; drivers ${JSON.stringify(drivers(h.root))}`);
      if (!home) break; // the tree is no longer the one the next round expects
      await yieldToRunner();
    }
    expect(killTally.failures).toEqual([]);
    expect(kills).toBeGreaterThanOrEqual(ROUNDS);
  }, 600_000);
});
