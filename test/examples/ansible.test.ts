import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BIN, REPO } from '../helpers/cli.js';
import { makeSimulatedHost, type SimHost } from '../helpers/sim-host.js';
import { domainXml } from '../helpers/xml.js';
import { injectFault, readSimState } from '../../src/mock/kernel/sim-state.js';
import { drivers } from '../robustness/campaign.js';

/**
 * examples/ansible/playbook.yml, run for real with ansible-core against two inventory hosts (both localhost,
 * each with its own simulated host as --root): the devices move, and a second run reports no change.
 */
function ensureAnsible(): void {
  if (spawnSync('sh', ['-c', 'command -v ansible-playbook']).status === 0) return;
  // The test's setup installs it from Debian's archive when missing (as .ci/run does).
  const r = spawnSync('sh', ['-c', 'DEBIAN_FRONTEND=noninteractive apt-get install -y -qq ansible-core || (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq ansible-core)'], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`ansible-core is needed for this test and could not be installed (apt-get install ansible-core): ${r.stderr}`);
}

const work = fs.mkdtempSync(path.join(os.tmpdir(), 'vfioctl-ansible-'));
const hosts: SimHost[] = [];
afterAll(() => {
  hosts.forEach((h) => h.cleanup());
  fs.rmSync(work, { recursive: true, force: true });
});

/** An inventory of the given hosts (name, root, XML), all local, running bin/vfioctl. */
function writeInventory(file: string, entries: [string, SimHost, string][]): void {
  fs.writeFileSync(
    file,
    [
      '[hypervisors]',
      ...entries.map(([name, h, xml]) => `${name} ansible_connection=local ansible_python_interpreter=/usr/bin/python3 vfioctl_root=${h.root} domain_xml=${xml}`),
      '[hypervisors:vars]',
      `vfioctl="${process.execPath} ${BIN}"`,
      '',
    ].join('\n'),
  );
}

function playbook(inventory: string): { code: number; out: string } {
  const r = spawnSync('ansible-playbook', ['-i', inventory, path.join(REPO, 'examples/ansible/playbook.yml')], {
    encoding: 'utf8',
    env: { ...process.env, ANSIBLE_NOCOLOR: '1', ANSIBLE_HOST_KEY_CHECKING: 'False', ANSIBLE_LOCAL_TEMP: path.join(work, 'ansible-tmp'), ANSIBLE_REMOTE_TEMP: path.join(work, 'ansible-tmp'), VFIOCTL_PCI_IDS: '', NO_COLOR: '1' },
    timeout: 300_000,
  });
  return { code: r.status ?? -1, out: `${r.stdout}\n${r.stderr}` };
}

/** The PLAY RECAP line of one host: ok=N changed=N failed=N. */
function recap(out: string, host: string): { ok: number; changed: number; failed: number } {
  const m = new RegExp(`^${host}\\s*:\\s*ok=(\\d+)\\s+changed=(\\d+)\\s+unreachable=\\d+\\s+failed=(\\d+)`, 'm').exec(out);
  if (!m) throw new Error(`no recap for ${host} in:\n${out}`);
  return { ok: Number(m[1]), changed: Number(m[2]), failed: Number(m[3]) };
}

describe('examples/ansible: a fleet of two hosts', () => {
  beforeAll(() => ensureAnsible(), 600_000);

  it('checks and detaches on every host; the second run changes nothing', () => {
    const hv1 = makeSimulatedHost('workstation');
    const hv2 = makeSimulatedHost('pci-bridge');
    hosts.push(hv1, hv2);
    const xml1 = path.join(work, 'gpu.xml');
    fs.writeFileSync(xml1, domainXml('gpu', [{ address: '0000:01:00.0', group: 'auto' }]));
    const xml2 = path.join(work, 'nic.xml');
    fs.writeFileSync(xml2, domainXml('nic', [{ address: '0000:02:01.0', group: 'auto' }]));
    const inventory = path.join(work, 'inventory.ini');
    const vfioctl = `${process.execPath} ${BIN}`;
    fs.writeFileSync(
      inventory,
      [
        '[hypervisors]',
        `hv1 ansible_connection=local ansible_python_interpreter=/usr/bin/python3 vfioctl_root=${hv1.root} domain_xml=${xml1}`,
        `hv2 ansible_connection=local ansible_python_interpreter=/usr/bin/python3 vfioctl_root=${hv2.root} domain_xml=${xml2}`,
        '[hypervisors:vars]',
        `vfioctl="${vfioctl}"`,
        '',
      ].join('\n'),
    );
    const first = playbook(inventory);
    expect(first.code, first.out).toBe(0);
    expect(recap(first.out, 'hv1')).toMatchObject({ changed: 1, failed: 0 });
    expect(recap(first.out, 'hv2')).toMatchObject({ changed: 1, failed: 0 });
    expect(drivers(hv1.root)).toMatchObject({ '0000:01:00.0': 'vfio-pci', '0000:01:00.1': 'vfio-pci', '0000:00:01.0': 'pcieport' });
    expect(drivers(hv2.root)).toMatchObject({ '0000:02:01.0': 'vfio-pci', '0000:02:02.0': 'vfio-pci', '0000:01:00.0': null });

    const second = playbook(inventory);
    expect(second.code, second.out).toBe(0);
    expect(recap(second.out, 'hv1')).toMatchObject({ changed: 0, failed: 0 });
    expect(recap(second.out, 'hv2')).toMatchObject({ changed: 0, failed: 0 });
  }, 600_000);

  it('a detach the kernel refuses (EBUSY) is failed, not changed, and nothing stays moved', () => {
    const hv = makeSimulatedHost('workstation');
    hosts.push(hv);
    const xml = path.join(work, 'gpu-ebusy.xml');
    fs.writeFileSync(xml, domainXml('gpu', [{ address: '0000:01:00.0', group: 'auto' }]));
    injectFault(hv.root, { kind: 'fail', errno: 'EBUSY', position: readSimState(hv.root).writes + 3, times: 'once' });
    const inventory = path.join(work, 'inventory-ebusy.ini');
    writeInventory(inventory, [['hv3', hv, xml]]);
    const r = playbook(inventory);
    expect(r.code, r.out).not.toBe(0);
    expect(recap(r.out, 'hv3'), r.out).toMatchObject({ changed: 0, failed: 1 });
    expect(r.out).toMatch(/fatal: \[hv3\]: FAILED!.*kind\\": \\"kernelRefused/);
    expect(drivers(hv.root)).toMatchObject({ '0000:01:00.0': 'nouveau', '0000:01:00.1': 'snd_hda_intel' });
  }, 600_000);
});

