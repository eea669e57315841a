import fs from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { Host } from '../../src/host/host.js';
import { lowersOf, upperChains, uppersOf } from '../../src/host/net-uppers.js';
import type { HostDescription } from '../../src/mock/description.js';
import { loadHostDescription } from '../../src/mock/hosts.js';
import { hostNeeds } from '../../src/plan/host-needs.js';
import { parseSysfsAddress } from '../../src/pci/address.js';
import { makeSimulatedHost, type SimHost } from '../helpers/sim-host.js';

/** Following a NIC's interface up through the kernel's master/upper_/lower_ links to what carries traffic. */
const hosts: SimHost[] = [];
afterEach(() => {
  while (hosts.length) hosts.pop()!.cleanup();
});
function sim(desc: HostDescription | string): string {
  const h = makeSimulatedHost(desc);
  hosts.push(h);
  return h.root;
}
const classNet = (root: string): string => path.join(root, 'sys/class/net');
function needsOf(root: string, address: string): string[] {
  const host = new Host(root);
  const dev = host.reader.device(parseSysfsAddress(address)!);
  return hostNeeds(dev, host.usage.of(dev));
}

describe('upper devices as the kernel links them', () => {
  it('a bridge port: master and upper_ on the port, lower_ and brif/ on the bridge', () => {
    const root = sim('hypervisor');
    const eno1 = path.join(classNet(root), 'eno1');
    expect(path.basename(fs.readlinkSync(path.join(eno1, 'master')))).toBe('br0');
    expect(fs.existsSync(path.join(eno1, 'upper_br0'))).toBe(true);
    expect(fs.readdirSync(path.join(classNet(root), 'br0', 'brif'))).toEqual(['eno1']);
    expect(uppersOf(classNet(root), 'eno1')).toEqual([{ name: 'br0', kind: 'bridge', relation: 'port', others: [] }]);
  });

  it('a bond under a VLAN: two hops, the bond a master, the VLAN not', () => {
    const root = sim('hypervisor');
    expect(upperChains(classNet(root), 'enp3s0f0')).toEqual([
      [{ name: 'bond0', kind: 'bond', relation: 'port', others: ['enp3s0f1'] }],
      [
        { name: 'bond0', kind: 'bond', relation: 'port', others: ['enp3s0f1'] },
        { name: 'bond0.100', kind: 'vlan', relation: 'upper', others: [] },
      ],
    ]);
    expect(lowersOf(classNet(root), 'bond0')).toEqual(['enp3s0f0', 'enp3s0f1']);
  });

  it('lowers come from brif/ or bonding/slaves when a tree has no lower_ links', () => {
    const root = sim('hypervisor');
    for (const upper of ['br0', 'bond0']) {
      for (const e of fs.readdirSync(path.join(classNet(root), upper))) if (e.startsWith('lower_')) fs.rmSync(path.join(classNet(root), upper, e));
    }
    expect(lowersOf(classNet(root), 'br0')).toEqual(['eno1']);
    expect(lowersOf(classNet(root), 'bond0')).toEqual(['enp3s0f0', 'enp3s0f1']);
  });

  it('a loop of upper_ links (a hostile tree) ends: each upper once', () => {
    const root = sim('hypervisor');
    fs.symlinkSync('../eno1', path.join(fs.realpathSync(path.join(classNet(root), 'br0')), 'upper_eno1'));
    expect(upperChains(classNet(root), 'eno1').map((c) => c.map((h) => h.name))).toEqual([['br0']]);
  });
});

describe('what the host needs through uppers', () => {
  it('a bridge port whose bridge carries the default route is needed; with the bridge down it is not', () => {
    const root = sim('hypervisor');
    expect(needsOf(root, '0000:00:1f.6')).toEqual(['its interface eno1 is the only port of br0, which carries the default route']);
    fs.writeFileSync(path.join(classNet(root), 'br0', 'operstate'), 'down\n');
    expect(needsOf(root, '0000:00:1f.6')).toEqual([]);
  });

  it('an upper without routes or addresses asks for nothing', () => {
    const d = loadHostDescription('workstation');
    d.routes = [];
    d.netUppers = [{ name: 'br0', kind: 'bridge', operstate: 'up', lowers: ['eno1'] }];
    expect(needsOf(sim(d), '0000:00:1f.6')).toEqual([]);
  });

  it('the JSON names the chain under the interface', () => {
    const root = sim('hypervisor');
    const host = new Host(root);
    const dev = host.reader.device(parseSysfsAddress('0000:03:00.1')!);
    expect(host.usage.of(dev).net[0]).toMatchObject({
      name: 'enp3s0f1',
      uppers: [{ name: 'bond0.100', up: true, defaultRoute: false, prefixes: ['10.0.100.0/24'], chain: [{ name: 'bond0', others: ['enp3s0f0'] }, { name: 'bond0.100', kind: 'vlan' }] }],
    });
  });
});
