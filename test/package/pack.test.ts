import { execFileSync, spawnSync, type SpawnSyncReturns } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { REPO } from '../helpers/cli.js';

/**
 * The package as a user gets it: `npm pack` (its prepack builds the bundle) in a copy of the repository, so
 * this test never rebuilds the dist/ other tests run, then `npm i -g` of the tarball into a scratch prefix,
 * offline, from a directory outside any repository, and vfioctl run from there.
 */
const scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'vfioctl-package-'));
const prefix = path.join(scratch, 'prefix');
const pkg = JSON.parse(fs.readFileSync(path.join(REPO, 'package.json'), 'utf8')) as { version: string };
const tarball = path.join(scratch, `vfioctl-${pkg.version}.tgz`);
const installed = path.join(prefix, 'bin', 'vfioctl');
const user = path.join(scratch, 'user'); // the user's working directory: no repository, no node_modules

/** The environment of a user's shell: none of the npm_* variables `npm test` sets, its own npm cache. */
function userEnv(extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !/^npm_/i.test(k)));
  return { ...env, npm_config_cache: path.join(scratch, 'npm-cache'), npm_config_update_notifier: 'false', NO_COLOR: '1', ...extra };
}

function sh(cmd: string, args: string[], cwd: string, env: NodeJS.ProcessEnv = {}): SpawnSyncReturns<string> {
  const r = spawnSync(cmd, args, { cwd, encoding: 'utf8', env: userEnv(env), timeout: 120_000 });
  if (r.error) throw r.error;
  return r;
}

/** A copy of the repository's files (tracked or new, not ignored), with the shared node_modules linked in. */
function copyRepository(to: string): void {
  const files = execFileSync('git', ['ls-files', '-z', '--cached', '--others', '--exclude-standard'], { cwd: REPO, encoding: 'utf8' }).split('\0');
  for (const f of files) {
    if (!f || f === 'node_modules' || f.startsWith('node_modules/') || !fs.existsSync(path.join(REPO, f))) continue;
    fs.mkdirSync(path.dirname(path.join(to, f)), { recursive: true });
    fs.cpSync(path.join(REPO, f), path.join(to, f), { verbatimSymlinks: true });
  }
  fs.symlinkSync(path.join(REPO, 'node_modules'), path.join(to, 'node_modules'));
}

beforeAll(() => {
  const clone = path.join(scratch, 'clone');
  copyRepository(clone);
  const packed = sh('npm', ['pack', '--offline', '--pack-destination', scratch], clone);
  expect(packed.status, packed.stderr).toBe(0);
  fs.mkdirSync(user);
  fs.copyFileSync(tarball, path.join(user, path.basename(tarball)));
  const install = sh('npm', ['i', '-g', '--prefix', prefix, `./${path.basename(tarball)}`, '--offline', '--no-audit', '--no-fund'], user);
  expect(install.status, install.stderr).toBe(0);
}, 180_000);
afterAll(() => fs.rmSync(scratch, { recursive: true, force: true }));

describe('the npm package', () => {
  it('ships the bundle, the man page, the simulated hosts, examples/ and LICENSE; no source map, no sources', () => {
    const files = execFileSync('tar', ['-tzf', tarball], { encoding: 'utf8' }).split('\n').filter(Boolean);
    for (const f of ['bin/vfioctl', 'dist/vfioctl.cjs', 'dist/vfioctl.8', 'mock-sysfs/hosts/workstation.json', 'examples/gpu-passthrough.xml', 'LICENSE', 'README.md']) {
      expect(files).toContain(`package/${f}`);
    }
    expect(files.filter((f) => f.endsWith('.map') || /^package\/(src|test|scripts|docs)\//.test(f))).toEqual([]);
  });

  it('depends on nothing at run time and runs no script of ours at install', () => {
    const shipped = JSON.parse(execFileSync('tar', ['-xzOf', tarball, 'package/package.json'], { encoding: 'utf8' })) as Record<string, unknown>;
    expect(shipped.dependencies ?? {}).toEqual({});
    const scripts = shipped.scripts as Record<string, string>;
    for (const s of ['preinstall', 'install', 'postinstall', 'prepare']) expect(scripts[s], s).toBeUndefined();
    expect(shipped).toMatchObject({ license: 'MIT', man: ['./dist/vfioctl.8'] });
    expect(fs.existsSync(path.join(prefix, 'lib', 'node_modules', 'vfioctl', 'node_modules'))).toBe(false);
  });

  it('installed from the tarball: --version, mock create and list run outside the repository', () => {
    const version = sh(installed, ['--version'], user);
    expect(version.stdout).toBe(`vfioctl ${pkg.version}\n`);
    const host = path.join(user, 'ws');
    const created = sh(installed, ['mock', 'create', 'workstation', host], user);
    expect(created.status, created.stderr).toBe(0);
    const list = sh(installed, ['list', '--json', '--root', host], user, { VFIOCTL_PCI_IDS: '' });
    expect(list.status, list.stderr).toBe(0);
    const groups = (JSON.parse(list.stdout) as { groups: { devices: { address: string; driver: string | null }[] }[] }).groups;
    expect(groups.flatMap((g) => g.devices).find((d) => d.address === '0000:01:00.0')?.driver).toBe('nouveau');
    const example = path.join(prefix, 'lib', 'node_modules', 'vfioctl', 'examples', 'gpu-passthrough.xml');
    expect(sh(installed, ['check', example, '--root', host], user).status).toBe(0);
  });

  it("installs the man page where man finds it: man 8 vfioctl renders without a warning", () => {
    const r = sh('man', ['--warnings', '-M', path.join(prefix, 'share', 'man'), '8', 'vfioctl'], user, { MANPAGER: 'cat', PAGER: 'cat', MANWIDTH: '80' });
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/^VFIOCTL\(8\) +System Administration +VFIOCTL\(8\)$/m);
    expect(r.stdout).toContain('EXIT STATUS');
  });

  it('runs with npx from the tarball, offline', () => {
    const r = sh('npx', ['--offline', '--yes', '--package', `./${path.basename(tarball)}`, 'vfioctl', '--version'], user);
    expect(r.stderr).toBe('');
    expect(r.stdout).toBe(`vfioctl ${pkg.version}\n`);
  });
});
