import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { BIN, REPO } from '../helpers/cli.js';
import { makeSimulatedHost } from '../helpers/sim-host.js';
import { domainXml } from '../helpers/xml.js';

/** The README's "Check a VM's XML in CI" commands, run exactly as written: snapshot on the hypervisor, check in CI. */
const readme = fs.readFileSync(path.join(REPO, 'README.md'), 'utf8');
const section = readme.split("## Check a VM's XML in CI")[1]!.split('\n## ')[0]!;
const commands = section
  .split('```sh')[1]!
  .split('```')[0]!
  .split('\n')
  .map((l) => l.trim())
  .filter((l) => l.length > 0 && !l.startsWith('#'));

const work = fs.mkdtempSync(path.join(os.tmpdir(), 'vfioctl-ci-recipe-'));
const shim = path.join(work, 'bin');
fs.mkdirSync(shim);
fs.writeFileSync(path.join(shim, 'vfioctl'), `#!/bin/sh\nexec "${process.execPath}" "${BIN}" "$@"\n`, { mode: 0o755 });
const hypervisor = makeSimulatedHost('workstation');
afterAll(() => {
  hypervisor.cleanup();
  fs.rmSync(work, { recursive: true, force: true });
});

function sh(command: string, cwd: string, env: NodeJS.ProcessEnv = {}): { code: number; stderr: string } {
  const r = spawnSync('sh', ['-c', command], { cwd, encoding: 'utf8', env: { ...process.env, PATH: `${shim}:${process.env.PATH}`, NO_COLOR: '1', ...env } });
  return { code: r.status ?? -1, stderr: r.stderr };
}

describe("README: Check a VM's XML in CI", () => {
  it('shows a snapshot command for the hypervisor and a check command for CI', () => {
    expect(commands).toEqual(['vfioctl snapshot --name hv01 -o hv01.json', 'vfioctl check vm.xml --root hv01.json']);
  });

  it('runs as written: the snapshot is taken on the hypervisor, the check passes for a good VM and fails for a bad one', () => {
    const [snapshot, check] = commands as [string, string];
    const repo = path.join(work, 'vms');
    fs.mkdirSync(repo);
    // "On the hypervisor": the simulated workstation is the host this command runs on.
    expect(sh(snapshot, repo, { VFIOCTL_ROOT: hypervisor.root }).code).toBe(0);
    expect(JSON.parse(fs.readFileSync(path.join(repo, 'hv01.json'), 'utf8')).name).toBe('hv01');
    // "In the CI job": a machine with no IOMMU; only the committed snapshot and the VM's XML.
    fs.writeFileSync(path.join(repo, 'vm.xml'), domainXml('gpu', [{ address: '0000:01:00.0', group: 'auto' }]));
    expect(sh(check, repo)).toMatchObject({ code: 0 });
    fs.writeFileSync(path.join(repo, 'vm.xml'), domainXml('gpu', [{ address: '0000:01:00.0', group: 'manual' }]));
    const bad = sh(check, repo);
    expect(bad.code).toBe(7);
    expect(bad.stderr + '').toBe('');
  });
});
