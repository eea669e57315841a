import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { hookScript, parseHookScript, shellQuote } from '../../src/libvirt/hook-script.js';
import { BIN, json, runBin } from '../helpers/cli.js';
import { installed, libvirtDir } from './libvirt-sim.js';

const NODE = process.execPath;
const VFIOCTL = fs.realpathSync(BIN);
const mode = (f: string): number => fs.statSync(f).mode & 0o777;

describe('vfioctl hook install', () => {
  it('writes hooks/qemu.d/vfioctl and hooks/network.d/vfioctl, mode 0755, that exec this node and this vfioctl', () => {
    const dir = libvirtDir();
    const r = runBin(['hook', 'install', '--libvirt-dir', dir]);
    expect(r.code).toBe(0);
    expect(r.stderr).toBe('');
    expect(r.stdout).toContain(`qemu hook installed: ${dir}/hooks/qemu.d/vfioctl`);
    expect(r.stdout).toContain(`network hook installed: ${dir}/hooks/network.d/vfioctl`);
    expect(r.stdout).toMatch(/restart .*libvirtd.*virtqemud/);
    for (const driver of ['qemu', 'network']) {
      const file = path.join(dir, 'hooks', `${driver}.d`, 'vfioctl');
      expect(mode(file)).toBe(0o755);
      const lines = fs.readFileSync(file, 'utf8').split('\n');
      expect(lines[0]).toBe('#!/bin/sh');
      expect(lines[1]).toMatch(/^# vfioctl-hook 1 /);
      expect(lines).toContain(`exec '${NODE}' '${VFIOCTL}' hook run ${driver} "$@"`);
    }
    expect(fs.existsSync(path.join(dir, 'hooks', 'qemu'))).toBe(false);
  });

  it('is idempotent: the same content again is "already installed", the file untouched, no restart asked', () => {
    const { dir, qemu } = installed();
    const before = fs.statSync(qemu);
    const r = runBin(['hook', 'install', '--libvirt-dir', dir]);
    expect(r.code).toBe(0);
    expect(r.stdout).toBe(`qemu hook already installed: ${qemu}\nnetwork hook already installed: ${dir}/hooks/network.d/vfioctl\n`);
    expect(fs.statSync(qemu).ino).toBe(before.ino);
  });

  it('replaces its own older script (another node or vfioctl path) and says so', () => {
    const { dir, qemu } = installed();
    fs.writeFileSync(qemu, hookScript('qemu', { node: '/opt/old/node', vfioctl: '/opt/old/bin/vfioctl' }));
    const r = runBin(['hook', 'install', '--libvirt-dir', dir]);
    expect(r.stdout).toContain(`qemu hook updated: ${qemu}`);
    expect(parseHookScript(fs.readFileSync(qemu, 'utf8'))).toEqual({ driver: 'qemu', node: NODE, vfioctl: VFIOCTL });
  });

  it('--legacy writes hooks/qemu and hooks/network, and takes away its hooks/qemu.d copy so libvirt runs it once', () => {
    const { dir, qemu } = installed();
    const r = runBin(['hook', 'install', '--legacy', '--libvirt-dir', dir]);
    expect(r.code).toBe(0);
    expect(mode(path.join(dir, 'hooks', 'qemu'))).toBe(0o755);
    expect(parseHookScript(fs.readFileSync(path.join(dir, 'hooks', 'network'), 'utf8'))?.driver).toBe('network');
    expect(fs.existsSync(qemu)).toBe(false);
    expect(r.stdout).toContain(`removed vfioctl's hook at the other place, so that libvirt runs it once: ${qemu}`);
  });

  it("--legacy refuses a hooks/qemu that is not vfioctl's (exit 6), writes nothing, and says how to chain it", () => {
    const dir = libvirtDir();
    fs.mkdirSync(path.join(dir, 'hooks'));
    const theirs = '#!/bin/bash\n/usr/local/bin/gpu-switch "$@"\n';
    fs.writeFileSync(path.join(dir, 'hooks', 'qemu'), theirs, { mode: 0o755 });
    const r = runBin(['hook', 'install', '--legacy', '--libvirt-dir', dir]);
    expect(r.code).toBe(6);
    expect(r.stderr).toContain(`${dir}/hooks/qemu exists and is not vfioctl's hook; vfioctl does not replace it, and wrote nothing.`);
    expect(r.stderr).toContain(`Chain it: at the end of that script, run '${NODE}' '${VFIOCTL}' hook run qemu "$@"`);
    expect(fs.readFileSync(path.join(dir, 'hooks', 'qemu'), 'utf8')).toBe(theirs);
    expect(fs.readdirSync(path.join(dir, 'hooks'))).toEqual(['qemu']);
    // Without --legacy, their script stays and ours goes beside it, in qemu.d/.
    expect(runBin(['hook', 'install', '--libvirt-dir', dir]).code).toBe(0);
    expect(fs.readFileSync(path.join(dir, 'hooks', 'qemu'), 'utf8')).toBe(theirs);
  });

  it('refuses a libvirt directory that does not exist (exit 4)', () => {
    const dir = path.join(libvirtDir(), 'nope');
    const r = runBin(['hook', 'install', '--libvirt-dir', dir]);
    expect(r.code).toBe(4);
    expect(r.stderr).toContain(`${dir} does not exist: is libvirt installed here?`);
  });
});

describe('vfioctl hook uninstall and status', () => {
  it("uninstall removes vfioctl's hooks and nothing else", () => {
    const { dir, qemu } = installed();
    const theirs = path.join(dir, 'hooks', 'network');
    fs.writeFileSync(theirs, '#!/bin/sh\nexit 0\n', { mode: 0o755 });
    const r = runBin(['hook', 'uninstall', '--libvirt-dir', dir]);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain(`removed ${qemu}`);
    expect(r.stdout).toContain(`left alone (not vfioctl's): ${theirs}`);
    expect(fs.existsSync(qemu)).toBe(false);
    expect(fs.existsSync(path.join(dir, 'hooks', 'network.d', 'vfioctl'))).toBe(false);
    expect(fs.readFileSync(theirs, 'utf8')).toBe('#!/bin/sh\nexit 0\n');
    expect(runBin(['hook', 'uninstall', '--libvirt-dir', dir]).stdout).toContain('No vfioctl hook was installed');
  });

  it('status --json: what is installed where, what it runs, and whether that still exists', () => {
    const { dir, qemu, network } = installed();
    const s = json(runBin(['hook', 'status', '--json', '--libvirt-dir', dir]));
    expect(s.installed).toBe(true);
    expect(s.warnings).toEqual([]);
    const byPath = Object.fromEntries(s.hooks.map((h: any) => [h.path, h]));
    expect(byPath[qemu]).toEqual({ driver: 'qemu', layout: 'directory', path: qemu, state: 'ours', node: NODE, nodeExists: true, vfioctl: VFIOCTL, vfioctlExists: true, executable: true });
    expect(byPath[network]).toMatchObject({ driver: 'network', state: 'ours' });
    expect(byPath[path.join(dir, 'hooks', 'qemu')]).toMatchObject({ layout: 'legacy', state: 'absent', node: null });

    // Moved away from under it: the vfioctl it runs is gone.
    fs.writeFileSync(qemu, hookScript('qemu', { node: NODE, vfioctl: '/opt/gone/bin/vfioctl' }), { mode: 0o755 });
    const broken = json(runBin(['hook', 'status', '--json', '--libvirt-dir', dir]));
    expect(broken.installed).toBe(false);
    expect(broken.hooks.find((h: any) => h.path === qemu)).toMatchObject({ vfioctl: '/opt/gone/bin/vfioctl', vfioctlExists: false });
    expect(broken.warnings).toEqual([`${qemu} runs /opt/gone/bin/vfioctl, which no longer exists: reinstall it with vfioctl hook install.`]);
    expect(runBin(['hook', 'status', '--libvirt-dir', dir]).stdout).toMatch(/^vfioctl hook not installed in /);
  });
});

describe('the hook script', () => {
  it("quotes any path safely: sh runs exactly the node and vfioctl named, with libvirt's arguments", () => {
    const dir = libvirtDir();
    // A stand-in "node" in a directory whose name has a quote, a space and a dollar: it prints its argv.
    const odd = path.join(dir, "it's a $HOME dir");
    fs.mkdirSync(odd);
    const fakeNode = path.join(odd, 'node');
    fs.writeFileSync(fakeNode, '#!/bin/sh\nfor a in "$@"; do printf "[%s]" "$a"; done\n', { mode: 0o755 });
    const text = hookScript('qemu', { node: fakeNode, vfioctl: path.join(odd, 'bin', 'vfioctl') });
    expect(parseHookScript(text)).toEqual({ driver: 'qemu', node: fakeNode, vfioctl: path.join(odd, 'bin', 'vfioctl') });
    const script = path.join(dir, 'hook');
    fs.writeFileSync(script, text);
    const r = spawnSync('/bin/sh', [script, 'my vm', 'prepare', 'begin', '-'], { encoding: 'utf8', env: { PATH: '/usr/bin:/bin' } });
    expect(r.stdout).toBe(`[${odd}/bin/vfioctl][hook][run][qemu][my vm][prepare][begin][-]`);
    expect(shellQuote("a'b")).toBe(`'a'\\''b'`);
    expect(parseHookScript('#!/bin/sh\nexec /usr/bin/true\n')).toBeNull();
  });

  it('starts node only for the operations vfioctl acts on; every other one is answered by the script, stdin read', () => {
    const dir = libvirtDir();
    const calls = path.join(dir, 'calls');
    const fakeNode = path.join(dir, 'node');
    fs.writeFileSync(fakeNode, `#!/bin/sh\necho "$4 $5 $6 $7" >> '${calls}'\ncat > /dev/null\n`, { mode: 0o755 });
    const xml = `<domain><name>vm</name>${'<!-- padding -->'.repeat(20_000)}</domain>\n`; // more than a pipe holds
    for (const driver of ['qemu', 'network'] as const) {
      const script = path.join(dir, `${driver}-hook`);
      fs.writeFileSync(script, hookScript(driver, { node: fakeNode, vfioctl: '/opt/vfioctl/bin/vfioctl' }));
      const ops = driver === 'qemu'
        ? ['prepare begin', 'start begin', 'started begin', 'stopped end', 'release end', 'reconnect begin', 'migrate begin', 'restore begin']
        : ['start begin', 'started begin', 'port-created begin', 'stopped end', 'updated begin'];
      for (const op of ops) {
        const r = spawnSync('/bin/sh', [script, 'obj', ...op.split(' '), '-'], { encoding: 'utf8', input: xml, env: { PATH: '/usr/bin:/bin' } });
        expect(r.status, `${driver} ${op}`).toBe(0);
        expect(r.stdout).toBe('');
      }
    }
    expect(fs.readFileSync(calls, 'utf8').trim().split('\n')).toEqual([
      'qemu obj prepare begin', 'qemu obj release end', 'qemu obj migrate begin', 'qemu obj restore begin',
      'network obj start begin', 'network obj stopped end',
    ]);
  });
});
