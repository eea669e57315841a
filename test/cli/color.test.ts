import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { BIN } from '../helpers/cli.js';
import { useSimulatedHosts } from '../helpers/sim-host.js';
import { tempFile } from '../helpers/xml.js';

const simulatedHost = useSimulatedHosts();
const ESC = '\u001b[';
const RED_STDOUT = '\u001b[31mnot viable for VFIO\u001b[39m';
const RED_STDERR = '\u001b[31mvfioctl:\u001b[39m';

/**
 * Runs a shell command line in a pty made by script(1) (util-linux): the terminal is stdout and stderr unless
 * redirected. Without CI in the environment: chalk's detection turns colour off on a terminal inside an
 * unknown CI (as CI=true, set by this project's CI, says), which the last test shows.
 */
function inPty(command: string, env: NodeJS.ProcessEnv = {}): { code: number; tty: string } {
  const clean = { ...process.env, TERM: 'xterm', NO_COLOR: undefined, FORCE_COLOR: undefined, CI: undefined, VFIOCTL_PCI_IDS: '', ...env };
  const r = spawnSync('script', ['-qec', command, '/dev/null'], { encoding: 'utf8', env: clean });
  return { code: r.status ?? -1, tty: r.stdout };
}
const vfioctl = (...args: string[]): string => [process.execPath, BIN, ...args].map((a) => `'${a}'`).join(' ');

describe('colour, decided per stream', () => {
  it('stderr redirected to a file on a terminal: no escapes in the file, colour on the terminal', () => {
    const h = simulatedHost('workstation');
    const err = tempFile('err.log', '');
    const r = inPty(`${vfioctl('group-info', '01:00.0', '--root', h.root)} && ${vfioctl('group-info', '05:00.0', '--root', h.root)} 2>'${err}'`);
    expect(r.code).toBe(4);
    expect(r.tty).toContain(RED_STDOUT);
    expect(fs.readFileSync(err, 'utf8')).toMatch(/^vfioctl: No PCI device 0000:05:00\.0/);
  });

  it('stdout redirected, stderr a terminal: the error is coloured, the file is not', () => {
    const h = simulatedHost('workstation');
    const out = tempFile('out.txt', '');
    const r = inPty(`${vfioctl('group-info', '01:00.0', '--root', h.root)} > '${out}'; ${vfioctl('group-info', '05:00.0', '--root', h.root)} > '${out}'`);
    expect(r.code).toBe(4);
    expect(r.tty).toContain(`${RED_STDERR} No PCI device`);
    expect(fs.readFileSync(path.join(out), 'utf8')).toBe('');
  });

  it.each([
    ['NO_COLOR=1', { NO_COLOR: '1' }, []],
    ['FORCE_COLOR=0', { FORCE_COLOR: '0' }, []],
    ['TERM=dumb', { TERM: 'dumb' }, []],
    ['--color=never', {}, ['--color=never']],
    ['--no-color', {}, ['--no-color']],
  ])('on a terminal, %s: no escapes on either stream', (_name, env, flags) => {
    const h = simulatedHost('workstation');
    const r = inPty(`${vfioctl('group-info', '01:00.0', '--root', h.root, ...flags)}; ${vfioctl('group-info', '05:00.0', '--root', h.root, ...flags)}`, env);
    expect(r.tty).toContain('not viable for VFIO');
    expect(r.tty).toContain('vfioctl: No PCI device');
    expect(r.tty).not.toContain(ESC);
  });

  it.each([
    ['FORCE_COLOR=1', { FORCE_COLOR: '1' }, []],
    ['--color=always', {}, ['--color=always']],
    ['--color always', {}, ['--color', 'always']],
  ])('through pipes, %s: coloured', (_name, env, flags) => {
    const h = simulatedHost('workstation');
    const ok = spawnSync(process.execPath, [BIN, 'group-info', '01:00.0', '--root', h.root, ...flags], { encoding: 'utf8', env: { ...process.env, NO_COLOR: undefined, FORCE_COLOR: undefined, VFIOCTL_PCI_IDS: '', ...env } });
    expect(ok.stdout).toContain(RED_STDOUT);
    const bad = spawnSync(process.execPath, [BIN, 'group-info', '05:00.0', '--root', h.root, ...flags], { encoding: 'utf8', env: { ...process.env, NO_COLOR: undefined, FORCE_COLOR: undefined, VFIOCTL_PCI_IDS: '', ...env } });
    expect(bad.stderr).toContain(RED_STDERR);
  });

  it('--color=sometimes is a usage error', () => {
    const r = spawnSync(process.execPath, [BIN, 'list', '--color=sometimes'], { encoding: 'utf8' });
    expect(r.status).toBe(2);
    expect(r.stderr).toContain("error: option '--color <when>' argument 'sometimes' is invalid. Allowed choices are always, never, auto.");
  });

  it("CI=true: a terminal inside an unknown CI gets no colour (chalk's own rule), unless --color=always", () => {
    const h = simulatedHost('workstation');
    const plain = inPty(vfioctl('group-info', '01:00.0', '--root', h.root), { CI: 'true' });
    expect(plain.tty).toContain('not viable for VFIO');
    expect(plain.tty).not.toContain(ESC);
    const forced = inPty(vfioctl('group-info', '01:00.0', '--root', h.root, '--color=always'), { CI: 'true' });
    expect(forced.tty).toContain(RED_STDOUT);
  });
});
