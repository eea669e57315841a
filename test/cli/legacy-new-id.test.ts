import { afterAll, describe, expect, it } from 'vitest';
import { readSimState } from '../../src/mock/kernel/sim-state.js';
import { json, runCli } from '../helpers/cli.js';
import { makeSimulatedHost, simulatedWrites } from '../helpers/sim-host.js';
import { tinyHost } from '../helpers/tiny-host.js';
import { domainXml, tempFile } from '../helpers/xml.js';
import { drivers } from '../robustness/campaign.js';

/** Kernels without driver_override (< 3.16): new_id + bind, and a reattach that removes the dynamic ID first. */
describe('a kernel without driver_override', () => {
  const h = makeSimulatedHost(tinyHost({ driverOverride: false }));
  afterAll(() => h.cleanup());
  const xml = tempFile('nic.xml', domainXml('nic', [{ address: '0000:01:00.0', group: 'auto' }]));

  it('detach writes new_id, bind, then remove_id; the identical bound NIC is left alone; reattach rebinds', async () => {
    const before = drivers(h.root);
    const dry = json(await runCli(['detach', xml, '--dry-run', '--json', '--root', h.root]));
    expect(dry.writes).toEqual([
      { path: '/sys/bus/pci/drivers/e1000e/unbind', value: '0000:01:00.0' },
      { path: '/sys/bus/pci/drivers/vfio-pci/new_id', value: '8086 10d3' },
      { path: '/sys/bus/pci/drivers/vfio-pci/bind', value: '0000:01:00.0' },
      { path: '/sys/bus/pci/drivers/vfio-pci/remove_id', value: '8086 10d3' },
    ]);
    const r = await runCli(['detach', xml, '--json', '--root', h.root]);
    expect(r.code).toBe(0);
    // new_id already bound it, so the bind answered EBUSY, which the plan expects; the ID is gone again, the device stays
    expect(simulatedWrites(h.root).map((w) => w.result)).toEqual(['ok', 'ok', 'EBUSY', 'ok']);
    expect(drivers(h.root)).toEqual({ ...before, '0000:01:00.0': 'vfio-pci' });
    expect(readSimState(h.root).drivers.find((d) => d.name === 'vfio-pci')!.dynamicIds).toEqual([]);

    expect((await runCli(['reattach', xml, '--root', h.root])).code).toBe(0);
    expect(drivers(h.root)).toEqual(before);
    expect(readSimState(h.root).drivers.find((d) => d.name === 'vfio-pci')!.dynamicIds).toEqual([]);
  });
});
