import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { injectFault, readSimState } from '../../src/mock/kernel/sim-state.js';
import { BIN, fixture, json, runBin, type CliResult } from '../helpers/cli.js';
import { makeSimulatedHost, type SimHost } from '../helpers/sim-host.js';

/** FILE '-' is standard input for check, detach, reattach and metadata: `virsh dumpxml vm | vfioctl check -`. */
const hosts: SimHost[] = [];
afterEach(() => {
  while (hosts.length) hosts.pop()!.cleanup();
});
function host(): SimHost {
  const h = makeSimulatedHost('qemu-q35-iommu');
  hosts.push(h);
  return h;
}

const ENV = { ...process.env, NO_COLOR: '1', VFIOCTL_PCI_IDS: '' };

function runWithInput(args: string[], input: string | Buffer): CliResult {
  const r = spawnSync(process.execPath, [BIN, ...args], { input, encoding: 'utf8', env: ENV, timeout: 60_000 });
  if (r.error) throw r.error;
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

const ONE_NIC = fs.readFileSync(fixture('xml', 'bridge-nic-auto.xml'), 'utf8');

function driverOf(root: string, addr: string): string | null {
  return json(runBin(['group-info', addr, '--json', '--root', root])).devices.find((d: any) => d.address === addr).driver;
}

describe("'-' reads the XML from standard input", () => {
  it('check -: the verdict and the analysis, with <stdin> where a file name would be', () => {
    const h = host();
    const r = runWithInput(['check', '-', '--root', h.root], ONE_NIC);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toContain("domain 'bridge-nic' (<stdin>): 1 PCI assignment\n  <hostdev> at <stdin>:9 (managed=yes, group='auto' from <driver group=> at <stdin>:10): 0000:02:01.0 in IOMMU group 10\n");
  });

  it('detach - moves the whole group; reattach - gives it back', () => {
    const h = host();
    const d = runWithInput(['detach', '-', '--root', h.root], ONE_NIC);
    expect([d.code, d.stderr]).toEqual([0, '']);
    expect([driverOf(h.root, '0000:02:01.0'), driverOf(h.root, '0000:02:02.0')]).toEqual(['vfio-pci', 'vfio-pci']);
    const r = runWithInput(['reattach', '-', '--root', h.root], ONE_NIC);
    expect([r.code, r.stderr]).toEqual([0, '']);
    expect([driverOf(h.root, '0000:02:01.0'), driverOf(h.root, '0000:02:02.0')]).toEqual(['e1000', 'e1000']);
  });

  it("the lock and the journal name the input <stdin>, not '-' (a run killed after its first write leaves both behind)", () => {
    const h = host();
    const state = path.join(h.root, 'run', 'vfioctl');
    const lockCommand = (): string => JSON.parse(fs.readFileSync(path.join(state, 'lock'), 'utf8')).command;
    const journal = (): any => JSON.parse(fs.readFileSync(path.join(state, 'journal.json'), 'utf8'));
    // The next write on this host (positions count every write since the host was made) is the last one of the run.
    const crashAtNextWrite = (): void => injectFault(h.root, { kind: 'crash', position: readSimState(h.root).writes + 1, times: 'once' });
    crashAtNextWrite();
    expect(runWithInput(['detach', '-', '--root', h.root], ONE_NIC).code).not.toBe(0);
    expect(lockCommand()).toBe('detach <stdin>');
    expect(journal().operation.command).toBe('detach <stdin>');
    expect(journal().devices['0000:02:02.0'].by).toBe('detach <stdin>');
    const again = runWithInput(['detach', '-', '--root', h.root], ONE_NIC);
    expect([again.code, again.stderr]).toEqual([0, '']);
    crashAtNextWrite();
    expect(runWithInput(['reattach', '-', '--root', h.root], ONE_NIC).code).not.toBe(0);
    expect(lockCommand()).toBe('reattach <stdin>');
    expect(journal().operation.command).toBe('reattach <stdin>');
    const done = runWithInput(['reattach', '-', '--root', h.root], ONE_NIC);
    expect([done.code, done.stderr]).toEqual([0, '']);
    expect(json(runBin(['list', '--json', '--root', h.root])).groups.find((g: any) => g.group === 10).devices.map((d: any) => d.driver)).toEqual([null, 'e1000', 'e1000']);
  });

  it('an error in the piped XML names <stdin>:LINE (exit 3)', () => {
    const r = runWithInput(['detach', '-', '--dry-run', '--root', host().root], ONE_NIC.replace("bus='0x02'", "bus='0x2g'"));
    expect(r.code).toBe(3);
    expect(r.stderr).toBe("vfioctl: <stdin>:12: <address>: invalid PCI address bus='0x2g': expected a number as libvirt reads it: hex (0x..), octal (a leading 0) or decimal.\n  Write it in hex as libvirt itself does, e.g. bus='0x02'.\n");
  });

  it('nothing on standard input: exit 3, not a wait', () => {
    const r = runWithInput(['check', '-', '--root', host().root], '');
    expect([r.code, r.stderr]).toEqual([3, 'vfioctl: <stdin>: malformed XML: missing root element\n']);
  });

  it('the limits of a file: 4 MiB, strict UTF-8', () => {
    const big = runWithInput(['check', '-'], `<domain>${' '.repeat(4 * 1024 * 1024)}</domain>`);
    expect([big.code, big.stderr]).toEqual([3, 'vfioctl: <stdin> is larger than 4194304 bytes; vfioctl reads libvirt XML files of at most 4194304 bytes (4 MiB).\n  A domain or network definition is a few kilobytes; check that this is the file you meant.\n']);
    const latin1 = runWithInput(['metadata', '-'], Buffer.from('<domain><name>caf\xe9</name></domain>', 'latin1'));
    expect([latin1.code, latin1.stderr.split('\n')[0]]).toEqual([3, 'vfioctl: <stdin> is not valid UTF-8 text; libvirt XML is UTF-8.']);
  });

  it('a terminal on standard input is refused at once (a pty made by script(1))', () => {
    const r = spawnSync('script', ['-qec', `${process.execPath} ${BIN} check -`, '/dev/null'], { encoding: 'utf8', env: ENV, timeout: 30_000 });
    expect(r.status).toBe(3);
    expect(r.stdout).toContain("vfioctl: <stdin> is a terminal; with FILE '-' vfioctl reads the XML from a pipe or a redirection.");
  });

  it('a FILE that is not - never reads standard input (an open, silent pipe does not hold it up)', async () => {
    const h = host();
    const child = spawn(process.execPath, [BIN, 'check', fixture('xml', 'bridge-nic-auto.xml'), '--root', h.root], { stdio: ['pipe', 'pipe', 'pipe'], env: ENV });
    let stdout = '';
    child.stdout.on('data', (d) => (stdout += d));
    const code = await new Promise<number | null>((resolve) => {
      const timer = setTimeout(() => {
        child.kill('SIGKILL');
        resolve(null);
      }, 20_000);
      child.on('close', (c) => {
        clearTimeout(timer);
        resolve(c);
      });
    });
    child.stdin.destroy();
    expect(code).toBe(0);
    expect(stdout).toContain('A detach would succeed');
  });
});
