import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { BIN, type CliResult } from '../helpers/cli.js';
import { makeSimulatedHost, simulatedWrites, type SimHost } from '../helpers/sim-host.js';
import { domainXml, tempFile } from '../helpers/xml.js';
import { report, Tally } from './campaign.js';

/**
 * What a hostile test of the host's safety found (issue 16), through bin/: files vfioctl reads replaced by
 * FIFOs must not hang it, and `snapshot -o` must not replace what is not a regular file nor leave temp files.
 */
const hosts: SimHost[] = [];
const dirs: string[] = [];
afterEach(() => {
  while (hosts.length) hosts.pop()!.cleanup();
});
afterAll(() => {
  for (const d of dirs) fs.rmSync(d, { recursive: true, force: true });
});
const tally = new Tally();
afterAll(() => report(tally.summary('host safety')));

/** bin/vfioctl with a short timeout: a hang shows as exit -1 and signal SIGKILL, not as a stuck suite. */
function runBinWithin(args: string[], ms = 15_000): CliResult {
  const r = spawnSync(process.execPath, [BIN, ...args], { encoding: 'utf8', env: { ...process.env, NO_COLOR: '1', VFIOCTL_PCI_IDS: '' }, timeout: ms, killSignal: 'SIGKILL' });
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr, signal: r.signal };
}

function scratchDir(): string {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), 'vfioctl-safety-'));
  dirs.push(d);
  return d;
}

function mkfifo(file: string): void {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  expect(spawnSync('mkfifo', [file]).status).toBe(0);
}

const GPU = '0000:01:00.0';

describe('a FIFO where vfioctl reads a file: a clear error at once, never a hang', () => {
  const cases: [string, (root: string, xml: string) => string[], number, RegExp][] = [
    ['a FIFO as the domain XML (check)', (root) => {
      const fifo = path.join(scratchDir(), 'vm.xml');
      mkfifo(fifo);
      return ['check', fifo, '--root', root];
    }, 3, /vm\.xml: it is a FIFO \(named pipe\) with no writer/],
    ['a FIFO as run/vfioctl/journal.json (detach)', (root, xml) => {
      mkfifo(path.join(root, 'run/vfioctl/journal.json'));
      return ['detach', xml, '--root', root, '--lock-timeout', '2'];
    }, 13, /journal .*journal\.json is a FIFO \(named pipe\), not a file vfioctl wrote/],
    ['a FIFO as run/vfioctl/lock (detach --lock-timeout 2)', (root, xml) => {
      mkfifo(path.join(root, 'run/vfioctl/lock'));
      return ['detach', xml, '--root', root, '--lock-timeout', '2'];
    }, 13, /lock .*run\/vfioctl\/lock is a FIFO \(named pipe\), not a lock vfioctl made/],
  ];
  it.each(cases)('%s', (name, setup, code, message) => {
    const h = makeSimulatedHost('workstation');
    hosts.push(h);
    const xml = tempFile('gpu.xml', domainXml('gpu', [{ address: GPU, group: 'auto' }]));
    const r = runBinWithin(setup(h.root, xml));
    const ok = r.code === code && message.test(r.stderr) && simulatedWrites(h.root).length === 0;
    tally.record(name, ok, `exit ${r.code} ${r.signal ?? ''}: ${r.stderr.trim()}`);
    expect(r.signal).toBeNull();
    expect(r.code).toBe(code);
    expect(r.stderr).toMatch(message);
    expect(simulatedWrites(h.root)).toEqual([]);
  });

  it('a pipe with a writer is still read: check <(cat vm.xml)', () => {
    const h = makeSimulatedHost('workstation');
    hosts.push(h);
    const xml = tempFile('gpu.xml', domainXml('gpu', [{ address: GPU, group: 'auto' }]));
    const r = spawnSync('bash', ['-c', `"${process.execPath}" "${BIN}" check <(cat "${xml}") --root "${h.root}"`], { encoding: 'utf8', timeout: 15_000 });
    tally.record('a pipe with a writer as the XML', r.status === 0, r.stderr);
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/A detach would succeed/);
  });
});

describe('snapshot -o: rename-over only for a regular file or a new name, no temp file left', () => {
  const leftovers = (dir: string): string[] => fs.readdirSync(dir).filter((f) => f.endsWith('.tmp'));

  it.each([
    ['into a directory that does not exist', (d: string) => path.join(d, 'missing', 'host.json'), 4, /the directory .*missing does not exist/],
    ['onto a directory', (d: string) => {
      fs.mkdirSync(path.join(d, 'adir'));
      return path.join(d, 'adir');
    }, 3, /adir: it is a directory/],
  ] as const)('%s: a clear error and its exit code, no *.tmp', (name, target, code, message) => {
    const h = makeSimulatedHost('workstation');
    hosts.push(h);
    const d = scratchDir();
    const file = target(d);
    const r = runBinWithin(['snapshot', '-o', file, '--root', h.root]);
    const ok = r.code === code && message.test(r.stderr) && leftovers(d).length === 0;
    tally.record(`snapshot -o ${name}`, ok, `exit ${r.code}: ${r.stderr.trim()}`);
    expect(r.code).toBe(code);
    expect(r.stderr).toMatch(message);
    expect(leftovers(d)).toEqual([]);
  });

  // Never the machine's own /dev/null: on a build without the fix this case replaces its target with a file.
  // A twin of it (mknod c 1 3) in a scratch directory, as root; a symlink to the real one either way.
  it.each(['a character device (a twin of /dev/null)', 'a symlink to /dev/null'])('onto %s: written in place, the node and the link stay', (kind) => {
    const h = makeSimulatedHost('workstation');
    hosts.push(h);
    const d = scratchDir();
    const target = path.join(d, 'null');
    const twin = kind.startsWith('a character') && spawnSync('mknod', ['-m', '666', target, 'c', '1', '3']).status === 0;
    if (!twin) fs.symlinkSync('/dev/null', target);
    const r = runBinWithin(['snapshot', '-o', target, '--root', h.root]);
    const after = fs.lstatSync(target);
    const kept = twin ? after.isCharacterDevice() && after.rdev === fs.statSync('/dev/null').rdev : after.isSymbolicLink();
    const ok = r.code === 0 && kept && fs.lstatSync('/dev/null').isCharacterDevice() && leftovers(d).length === 0;
    tally.record(`snapshot -o ${kind}`, ok, `exit ${r.code}: ${r.stderr.trim()}`);
    expect(r.code).toBe(0);
    expect(kept).toBe(true);
    expect(fs.lstatSync('/dev/null').isCharacterDevice()).toBe(true);
    expect(leftovers(d)).toEqual([]);
  });

  it('onto a symlink to a file (the /dev/stdout shape): written through the link, the link stays', () => {
    const h = makeSimulatedHost('workstation');
    hosts.push(h);
    const d = scratchDir();
    const out = path.join(d, 'out.json');
    fs.writeFileSync(out, '');
    fs.symlinkSync(out, path.join(d, 'stdout'));
    const r = runBinWithin(['snapshot', '-o', path.join(d, 'stdout'), '--root', h.root]);
    const ok = r.code === 0 && fs.lstatSync(path.join(d, 'stdout')).isSymbolicLink() && JSON.parse(fs.readFileSync(out, 'utf8')).format === 'vfioctl-host/1';
    tally.record('snapshot -o a symlink', ok, `exit ${r.code}: ${r.stderr.trim()}`);
    expect(r.code).toBe(0);
    expect(fs.lstatSync(path.join(d, 'stdout')).isSymbolicLink()).toBe(true);
    expect(JSON.parse(fs.readFileSync(out, 'utf8'))).toMatchObject({ format: 'vfioctl-host/1' });
    expect(leftovers(d)).toEqual([]);
  });
});
