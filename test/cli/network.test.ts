import { afterAll, describe, expect, it } from 'vitest';
import { fixture, json, runCli } from '../helpers/cli.js';
import { makeSimulatedHost } from '../helpers/sim-host.js';
import { tempFile } from '../helpers/xml.js';
import { drivers } from '../robustness/campaign.js';

/** Hostdev networks resolved through the host's sysfs: a PF's VFs, addresses, and interfaces by name. */
describe('network XML on the sriov-server host', () => {
  const h = makeSimulatedHost('sriov-server');
  afterAll(() => h.cleanup());
  const vfs = Array.from({ length: 8 }, (_, i) => `0000:3b:02.${i}`);

  it("<pf dev='ens1f0'/> names every VF of that PF; check says each moves alone in its group", async () => {
    const r = await runCli(['check', fixture('xml', 'sriov-pf-network.xml'), '--json', '--root', h.root]);
    expect(r.code).toBe(0);
    const a = json(r);
    expect(a.assignments[0].devices).toEqual(vfs);
    expect(a.moves).toEqual(vfs);
    expect(a.groups).toHaveLength(8);
  });

  it('an address pool: detach moves exactly those VFs, and the network is idempotent', async () => {
    const before = drivers(h.root);
    const r = await runCli(['detach', fixture('xml', 'address-pool-network.xml'), '--json', '--root', h.root]);
    expect(r.code).toBe(0);
    expect(json(r).devices.filter((d: any) => d.action === 'moved').map((d: any) => d.address)).toEqual(['0000:3b:02.1', '0000:3b:02.2', '0000:3b:02.3']);
    const after = drivers(h.root);
    for (const a of Object.keys(before)) expect(after[a]).toBe(['0000:3b:02.1', '0000:3b:02.2', '0000:3b:02.3'].includes(a) ? 'vfio-pci' : before[a]);
    expect(json(await runCli(['detach', fixture('xml', 'address-pool-network.xml'), '--json', '--root', h.root])).changed).toBe(false);
    expect((await runCli(['reattach', fixture('xml', 'address-pool-network.xml'), '--root', h.root])).code).toBe(0);
    expect(drivers(h.root)).toEqual(before);
  });

  it('an interface that does not exist on the host, and a non-hostdev network', async () => {
    const missing = tempFile('n.xml', "<network><name>n</name><forward mode='hostdev' managed='yes'><interface dev='nosuch0'/></forward></network>");
    const r = await runCli(['check', missing, '--root', h.root]);
    expect(r.code).toBe(4);
    expect(r.stdout + r.stderr).toMatch(/nosuch0/);
    const nat = await runCli(['check', fixture('xml', 'nat-network.xml'), '--root', h.root]);
    expect(nat.code).toBe(0);
    expect(nat.stdout).toMatch(/not a hostdev network/);
  });

  it('the PF itself, with VFs enabled, is refused: unbinding its driver would remove its VFs', async () => {
    const pf = tempFile('pf.xml', "<domain><name>x</name><devices><hostdev mode='subsystem' type='pci' managed='yes'><driver name='vfio' group='auto'/><source><address bus='0x3b' slot='0x00' function='0x1'/></source></hostdev></devices></domain>");
    const r = await runCli(['detach', pf, '--root', h.root]);
    expect(r.code).toBe(7);
    expect(r.stderr).toMatch(/0000:3b:00.0 is an SR-IOV physical function with 8 virtual functions enabled: unbinding its driver removes its 8 VFs/);
  });
});
