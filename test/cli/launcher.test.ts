import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { BIN } from '../helpers/cli.js';

/**
 * bin/vfioctl starts node with one V8 background thread (its first two lines, read by sh and by JavaScript:
 * see the file). As a user runs it: executed directly, through a symlink as npm links it, from a directory whose
 * name has a space; and `node bin/vfioctl`, as the tests and the libvirt hook run it, still works.
 */
const scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'vfioctl launcher '));
afterAll(() => fs.rmSync(scratch, { recursive: true, force: true }));

/** Node's own options as the started process saw them, printed by a module node loads first. */
const SHOW_EXEC_ARGV = `--import=data:text/javascript,process.stderr.write(JSON.stringify(process.execArgv)%2B'\\n')`;

function run(cmd: string, args: string[]): { code: number | null; stdout: string; execArgv: string[] } {
  const r = spawnSync(cmd, args, { encoding: 'utf8', env: { ...process.env, NO_COLOR: '1', NODE_OPTIONS: SHOW_EXEC_ARGV }, cwd: scratch });
  const line = r.stderr.split('\n').find((l) => l.startsWith('['));
  return { code: r.status, stdout: r.stdout, execArgv: line ? (JSON.parse(line) as string[]) : [] };
}

describe('bin/vfioctl, the command users run', () => {
  it('executed directly, it runs node with --v8-pool-size=1', () => {
    const r = run(BIN, ['--version']);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^vfioctl \d+\.\d+\.\d+\n$/);
    expect(r.execArgv).toContain('--v8-pool-size=1');
  });

  it("through a symlink in a directory with a space in its name (npm's bin link), the same", () => {
    const dir = path.join(scratch, 'global bin');
    fs.mkdirSync(dir);
    const link = path.join(dir, 'vfioctl');
    fs.symlinkSync(BIN, link);
    const r = run(link, ['--version']);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^vfioctl \d+\.\d+\.\d+\n$/);
    expect(r.execArgv).toContain('--v8-pool-size=1');
  });

  it('given to node as a script, it runs as JavaScript, with node as started', () => {
    const r = run(process.execPath, [BIN, '--version']);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^vfioctl \d+\.\d+\.\d+\n$/);
    expect(r.execArgv).not.toContain('--v8-pool-size=1');
  });
});
