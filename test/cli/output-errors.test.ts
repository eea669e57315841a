import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { BIN } from '../helpers/cli.js';
import { useSimulatedHosts } from '../helpers/sim-host.js';

const simulatedHost = useSimulatedHosts();

/** bin/vfioctl through sh, so its stdout can be redirected; `asNobody`: without root (EACCES is real). */
function sh(command: string, asNobody = false): { code: number; stdout: string; stderr: string } {
  const argv = asNobody ? ['setpriv', '--reuid=65534', '--regid=65534', '--clear-groups', 'sh', '-c', command] : ['sh', '-c', command];
  const r = spawnSync(argv[0]!, argv.slice(1), { encoding: 'utf8', env: { ...process.env, NO_COLOR: '1', VFIOCTL_PCI_IDS: '', VFIOCTL_BIN: `${process.execPath} ${BIN}` } });
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

describe('errors writing our own output are not bugs: each has its exit code and a sentence', () => {
  it('list > /dev/full: exit 15, ENOSPC named, no "This is a bug"', () => {
    const h = simulatedHost('workstation');
    const r = sh(`$VFIOCTL_BIN list --root '${h.root}' > /dev/full`);
    expect(r.code).toBe(15);
    expect(r.stderr).toBe('vfioctl: Cannot write to standard output: ENOSPC (no space left on device).\n  Free space or redirect standard output elsewhere; what was written before is incomplete.\n');
  });

  it('list --json > /dev/full: the error object cannot go to stdout either; stderr and the exit code say it', () => {
    const h = simulatedHost('workstation');
    const r = sh(`$VFIOCTL_BIN list --json --root '${h.root}' > /dev/full`);
    expect(r.code).toBe(15);
    expect(r.stderr).toMatch(/^vfioctl: Cannot write to standard output: ENOSPC/);
  });

  it('snapshot -o /dev/full: exit 15', () => {
    const h = simulatedHost('workstation');
    const r = sh(`$VFIOCTL_BIN snapshot --root '${h.root}' -o /dev/full`);
    expect(r.code).toBe(15);
    expect(r.stderr).toMatch(/^vfioctl: Cannot write \/dev\/full: ENOSPC \(no space left on device\)\.\n/);
  });

  it('snapshot -o /nonexistent/x.json: exit 4, the directory named', () => {
    const h = simulatedHost('workstation');
    const r = sh(`$VFIOCTL_BIN snapshot --root '${h.root}' -o /nonexistent/x.json`);
    expect(r.code).toBe(4);
    expect(r.stderr).toContain('vfioctl: Cannot write /nonexistent/x.json: the directory /nonexistent does not exist.');
  });

  it('snapshot -o into a read-only directory, as a user who may not write there: exit 9 (EACCES)', () => {
    const h = simulatedHost('workstation');
    fs.chmodSync(path.dirname(h.root), 0o755);
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vfioctl-ro-'));
    try {
      fs.chmodSync(dir, 0o555);
      const r = sh(`$VFIOCTL_BIN snapshot --root '${h.root}' -o '${dir}/x.json'`, true);
      expect(r.stderr).toBe(`vfioctl: Cannot write ${dir}/x.json: permission denied.\n  Write it somewhere you may write, or run as a user who may.\n`);
      expect(r.code).toBe(9);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
