import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { REPO } from '../helpers/cli.js';
import { simulatedWrites, useSimulatedHosts } from '../helpers/sim-host.js';

const host = useSimulatedHosts();
const outside = fs.mkdtempSync(path.join(os.tmpdir(), 'vfioctl-outside-'));
afterAll(() => fs.rmSync(outside, { recursive: true, force: true }));

/** bin/vfioctl, stopped after 15 s: a hang is a failure here, not a stuck test run. */
function run(args: string[]): { code: number | null; stderr: string; signal: NodeJS.Signals | null } {
  const r = spawnSync(process.execPath, [path.join(REPO, 'bin', 'vfioctl'), ...args], { encoding: 'utf8', timeout: 15_000, env: { ...process.env, NO_COLOR: '1' } });
  return { code: r.status, stderr: r.stderr, signal: r.signal };
}

describe("the read-only commands read vfioctl's journal as carefully as a write does", () => {
  it('a FIFO in place of the journal: list, group-info and snapshot stop at once with exit 13 naming it, instead of waiting for a writer', () => {
    const h = host('workstation');
    const journal = path.join(h.root, 'run/vfioctl/journal.json');
    fs.mkdirSync(path.dirname(journal), { recursive: true });
    spawnSync('mkfifo', [journal]);
    expect(fs.statSync(journal).isFIFO()).toBe(true);
    for (const args of [['list'], ['group-info', '0000:01:00.0'], ['snapshot']]) {
      const r = run([...args, '--root', h.root]);
      expect({ args, signal: r.signal, code: r.code }).toEqual({ args, signal: null, code: 13 });
      expect(r.stderr).toContain(`vfioctl: The journal ${journal} is a FIFO (named pipe), not a file vfioctl wrote.\n`);
    }
  });

  it('a symlink in place of the journal (here to a file outside the root): exit 13, not read through', () => {
    const h = host('workstation');
    const journal = path.join(h.root, 'run/vfioctl/journal.json');
    fs.mkdirSync(path.dirname(journal), { recursive: true });
    const elsewhere = path.join(outside, 'journal.json');
    fs.writeFileSync(elsewhere, JSON.stringify({ version: 1, devices: { '0000:01:00.0': {} }, operation: null }));
    fs.symlinkSync(elsewhere, journal);
    for (const args of [['list'], ['detach', path.join(REPO, 'examples', 'gpu-passthrough.xml')]]) {
      const r = run([...args, '--root', h.root]);
      expect({ args, code: r.code }).toEqual({ args, code: 13 });
      expect(r.stderr).toContain(`vfioctl: The journal ${journal} is a symlink, not a file vfioctl wrote.\n`);
    }
    expect(simulatedWrites(h.root)).toEqual([]);
  });

  it('a journal a detach accepts is one list and group-info read too: the same size limit (16 MiB) for both', () => {
    const h = host('workstation');
    const journal = path.join(h.root, 'run/vfioctl/journal.json');
    fs.mkdirSync(path.dirname(journal), { recursive: true });
    // 5 MiB: over the 4 MiB the read-only commands used to allow, under the journal's own 16 MiB.
    const text = JSON.stringify({ version: 1, devices: {}, operation: null }, null, 2);
    fs.writeFileSync(journal, `${text}${' '.repeat(5 * 1024 * 1024)}\n`);
    for (const args of [['list'], ['group-info', '0000:01:00.0'], ['status']]) {
      const r = run([...args, '--root', h.root]);
      expect({ args, code: r.code, stderr: r.stderr }).toEqual({ args, code: 0, stderr: '' });
    }
  });
});
