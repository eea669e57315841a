import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import { describe, expect, it } from 'vitest';
import { fdWriter, isTerminal } from '../../src/render/terminal.js';
import os from 'node:os';
import path from 'node:path';
import { json, runBin, startBin } from '../helpers/cli.js';
import { useSimulatedHosts } from '../helpers/sim-host.js';
import { domainXml, tempFile } from '../helpers/xml.js';

const simulatedHost = useSimulatedHosts();

describe('output whose reader goes away', () => {
  it('list stops printing quietly: exit 0, nothing on stderr', async () => {
    const h = simulatedHost('sriov-server');
    const r = await startBin(['list', '--root', h.root], { closeStdout: true });
    expect(r).toEqual({ code: 0, stderr: '' });
  });

  it('detach still does all its work: the devices end on vfio-pci, as with its output read', async () => {
    const h = simulatedHost('workstation');
    const xml = tempFile('gpu.xml', domainXml('gpu', [{ address: '0000:01:00.0', group: 'auto' }]));
    const r = await startBin(['detach', xml, '--root', h.root], { closeStdout: true });
    expect(r).toEqual({ code: 0, stderr: '' });
    const g = json(runBin(['group-info', '01:00.0', '--json', '--root', h.root]));
    expect(g.devices.map((d: { address: string; driver: string }) => [d.address, d.driver])).toEqual([
      ['0000:00:01.0', 'pcieport'],
      ['0000:01:00.0', 'vfio-pci'],
      ['0000:01:00.1', 'vfio-pci'],
    ]);
  });
});

describe('colour', () => {
  it('is off when stdout is a pipe or a file (scripts, CI): no escape codes', () => {
    const h = simulatedHost('workstation');
    const r = runBin(['group-info', '01:00.0', '--root', h.root], { NO_COLOR: '' });
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^IOMMU group \d+: not viable for VFIO\n/);
    expect(r.stdout).not.toContain('\u001b[');
  });

  it('is on when stdout is a terminal (a pty made by script(1), from util-linux)', () => {
    const h = simulatedHost('workstation');
    const bin = new URL('../../bin/vfioctl', import.meta.url).pathname;
    const command = [process.execPath, bin, 'group-info', '01:00.0', '--root', h.root].map((a) => `'${a}'`).join(' ');
    const r = spawnSync('script', ['-qec', command, '/dev/null'], { encoding: 'utf8', env: { ...process.env, NO_COLOR: '', FORCE_COLOR: '' } });
    expect(r.status).toBe(0);
    expect(r.stdout).toContain('\u001b[31mnot viable for VFIO\u001b[39m');
  });

  it('/dev/null (a character device too) and a file are not terminals', () => {
    const fds = [fs.openSync('/dev/null', 'w'), fs.openSync(tempFile('out.txt', ''), 'w')];
    try {
      for (const fd of fds) expect(isTerminal(fd)).toBe(false);
    } finally {
      for (const fd of fds) fs.closeSync(fd);
    }
  });
});

describe('writing to a descriptor that fills up', () => {
  it('a non-blocking pipe gets every byte, in order, through short writes that split characters', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vfioctl-fifo-'));
    try {
      const fifo = path.join(dir, 'fifo');
      const out = path.join(dir, 'out');
      expect(spawnSync('mkfifo', [fifo]).status).toBe(0);
      const cat = spawn('sh', ['-c', `cat '${fifo}' > '${out}'`], { stdio: 'ignore' });
      const done = new Promise((resolve) => cat.on('exit', resolve));
      // O_RDWR: the open does not wait for the reader. The 64 KiB pipe fills at once: writes come back
      // short (mid-character, as often as not) or fail with EAGAIN until cat has read.
      const fd = fs.openSync(fifo, fs.constants.O_RDWR | fs.constants.O_NONBLOCK);
      const write = fdWriter(fd);
      const text = 'Hilscher Gesellschaft für Systemautomation mbH · R9 290X IceQ X² Turbo\n'.repeat(20000);
      write(text);
      write('end\n');
      fs.closeSync(fd);
      await done;
      expect(fs.readFileSync(out, 'utf8') === `${text}end\n`).toBe(true);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
