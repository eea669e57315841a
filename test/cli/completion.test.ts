import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { runBin } from '../helpers/cli.js';
import { makeSimulatedHost } from '../helpers/sim-host.js';

const host = makeSimulatedHost('workstation');
const scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'vfioctl-completion-'));
afterAll(() => {
  host.cleanup();
  fs.rmSync(scratch, { recursive: true, force: true });
});
// The directory completion runs in: one snapshot, one directory, one other file.
const cwd = path.join(scratch, 'cwd');
fs.mkdirSync(path.join(cwd, 'hostdir'), { recursive: true });
fs.writeFileSync(path.join(cwd, 'hv01.json'), '{}');
fs.writeFileSync(path.join(cwd, 'notes.txt'), '');

const script = path.join(scratch, 'vfioctl.bash');
const generated = runBin(['completion', 'bash']);
fs.writeFileSync(script, generated.stdout);

/**
 * Runs bash's completion function as bash runs it on <TAB>: COMP_WORDS as bash splits the line (at ':' too),
 * COMP_CWORD the last word. Returns COMPREPLY.
 */
function complete(words: string[], env: NodeJS.ProcessEnv = {}): string[] {
  const r = spawnSync('bash', ['--norc', '--noprofile', '-c', 'source "$0"; COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1)); _vfioctl; printf "%s\\n" "${COMPREPLY[@]}"', script, ...words], {
    cwd,
    encoding: 'utf8',
    env: { PATH: process.env.PATH, HOME: scratch, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  expect(r.stderr).toBe('');
  expect(r.status).toBe(0);
  return r.stdout.split('\n').filter(Boolean);
}

describe('vfioctl completion bash', () => {
  it('prints a script that registers _vfioctl for vfioctl', () => {
    expect(generated.code).toBe(0);
    expect(generated.stdout).toContain('complete -F _vfioctl vfioctl\n');
  });

  it('completes the commands, and the subcommands of hook and mock', () => {
    expect(complete(['vfioctl', ''])).toEqual(['list', 'group-info', 'check', 'detach', 'reattach', 'status', 'metadata', 'snapshot', 'persist', 'unpersist', 'hook', 'mock', 'completion', 'help']);
    expect(complete(['vfioctl', 're'])).toEqual(['reattach']);
    expect(complete(['vfioctl', '--root', host.root, 'hook', 'i'])).toEqual(['install']);
    expect(complete(['vfioctl', 'mock', ''])).toEqual(['list', 'create', 'help']);
    expect(complete(['vfioctl', 'completion', ''])).toEqual(['bash', 'zsh']);
  });

  it("completes a command's options and the global ones", () => {
    expect(complete(['vfioctl', 'detach', 'vm.xml', '--'])).toEqual(['--dry-run', '--force', '--owner', '--json', '--lock-timeout', '--help', '--root', '--color', '--no-color']);
    expect(complete(['vfioctl', 'reattach', '--a'])).toEqual(['--all']);
    expect(complete(['vfioctl', '--'])).toEqual(['--version', '--root', '--color', '--no-color', '--help']);
  });

  it('completes the bundled host names for mock create, then a directory', () => {
    expect(complete(['vfioctl', 'mock', 'create', ''])).toEqual([
      'ci-machine',
      'hypervisor',
      'iommu-off',
      'modern-vfio',
      'no-vfio',
      'pci-bridge',
      'qemu-q35-iommu',
      'sriov-server',
      'workstation',
      'hv01.json',
      'hostdir',
    ]);
    expect(complete(['vfioctl', 'mock', 'create', 'sr'])).toEqual(['sriov-server']);
    expect(complete(['vfioctl', 'mock', 'create', 'workstation', ''])).toEqual(['hostdir']);
  });

  it("completes group-info's address from --root's sys/bus/pci/devices, as bash splits it at ':'", () => {
    const all = fs.readdirSync(path.join(host.root, 'sys/bus/pci/devices')).sort();
    expect(all).toContain('0000:01:00.1');
    expect(complete(['vfioctl', 'group-info', '--root', host.root, ''])).toEqual(all);
    // 0000:01 is three words to bash; it replaces only what follows the last ':'.
    expect(complete(['vfioctl', 'group-info', '--root', host.root, '0000', ':', '01'])).toEqual(['01:00.0', '01:00.1']);
    // lspci's short form, without the domain
    expect(complete(['vfioctl', 'group-info', '01', ':', '00.'], { VFIOCTL_ROOT: host.root })).toEqual(['00.0', '00.1']);
    expect(complete(['vfioctl', '--root', host.root, 'group-info', '--json', '0000', ':', '01', ':', '00.1'])).toEqual(['00.1']);
  });

  it('completes --root with directories and snapshot .json files, and the XML argument with files', () => {
    expect(complete(['vfioctl', 'list', '--root', ''])).toEqual(['hostdir', 'hv01.json']);
    expect(complete(['vfioctl', 'check', 'n'])).toEqual(['notes.txt']);
  });
});

describe('vfioctl completion zsh', () => {
  it('is the same function, loaded through zsh bashcompinit, in a file zsh finds as _vfioctl', () => {
    const r = runBin(['completion', 'zsh']);
    expect(r.code).toBe(0);
    expect(r.stdout.split('\n').slice(0, 1)).toEqual(['#compdef vfioctl']);
    expect(r.stdout).toContain('autoload -U +X bashcompinit && bashcompinit\n');
    expect(r.stdout).toContain('complete -F _vfioctl vfioctl\n');
  });

  it('refuses another shell with a usage error (exit 2)', () => {
    const r = runBin(['completion', 'fish']);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('Allowed choices are bash, zsh');
  });
});
