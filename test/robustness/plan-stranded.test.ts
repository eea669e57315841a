import { afterAll, describe, expect, it } from 'vitest';
import { injectFault, readSimState } from '../../src/mock/kernel/sim-state.js';
import { json, runBin } from '../helpers/cli.js';
import { simulatedWrites, useSimulatedHosts } from '../helpers/sim-host.js';
import { tinyHost } from '../helpers/tiny-host.js';
import { domainXml, tempFile } from '../helpers/xml.js';
import { drivers, journal, report, Tally } from './campaign.js';

/**
 * Devices the plan could strand (issue 16, "Devices stranded", plan side): a network pool named by
 * interfaces that are gone once their VFs are on vfio-pci; the legacy new_id path on kernels <= 5.12 and
 * new_id's grab of identical unbound devices; loading vfio-pci, which takes every device whose override
 * already names it; a host driver re-claiming a member right after its unbind; and the messages of a file
 * with nothing to move and of an SR-IOV PF with VFs.
 */
const simulatedHost = useSimulatedHosts();
const tally = new Tally();
afterAll(() => report(tally.summary('plan: devices stranded')));

/** Runs a case and records it in the tally; the assertions inside decide. */
function tallied(name: string, fn: () => Promise<void>): void {
  it(name, async () => {
    try {
      await fn();
      tally.record(name, true);
    } catch (err) {
      tally.record(name, false, (err as Error).message.split('\n')[0]);
      throw err;
    }
  });
}

const network = (devs: string[]): string =>
  tempFile('pool.xml', `<network><name>pool</name><forward mode='hostdev' managed='yes'>${devs.map((d) => `<interface dev='${d}'/>`).join('')}</forward></network>`);

describe('a hostdev network whose pool names interfaces', () => {
  tallied('after detach the interfaces are gone; a second detach is a no-op, check passes, reattach restores them', async () => {
    const h = simulatedHost('sriov-server');
    const before = drivers(h.root);
    const xml = network(['ens1f0v0', 'ens1f0v1']);
    const first = runBin(['detach', xml, '--json', '--root', h.root]);
    expect(first.code).toBe(0);
    expect(drivers(h.root)['0000:3b:02.0']).toBe('vfio-pci');
    const again = runBin(['detach', xml, '--json', '--root', h.root]);
    expect(again.code).toBe(0);
    expect(json(again).changed).toBe(false);
    expect(json(again).devices.map((d: any) => [d.address, d.action])).toEqual([
      ['0000:3b:02.0', 'already'],
      ['0000:3b:02.1', 'already'],
    ]);
    expect((runBin(['check', xml, '--root', h.root])).code).toBe(0);
    const back = runBin(['reattach', xml, '--json', '--root', h.root]);
    expect(back.code).toBe(0);
    expect(json(back).changed).toBe(true);
    expect(drivers(h.root)).toEqual(before);
    expect(journal(h.root).devices).toEqual({});
  });

  tallied('an interface vfioctl never saw is still missing (exit 4)', async () => {
    const h = simulatedHost('sriov-server');
    const r = runBin(['check', network(['ens1f0v9']), '--root', h.root]);
    expect(r.code).toBe(4);
    expect(r.stdout + r.stderr).toMatch(/no network interface 'ens1f0v9'/);
  });
});

describe('the legacy path (no driver_override)', () => {
  const nic = domainXml('nic', [{ address: '0000:01:00.0', group: 'auto' }]);

  tallied('on a kernel <= 5.12 bind answers ENODEV after new_id bound the device: detach succeeds and removes the ID', async () => {
    const h = simulatedHost(tinyHost({ driverOverride: false, release: '3.10.0-1160.el7.x86_64' }));
    const before = drivers(h.root);
    const xml = tempFile('nic.xml', nic);
    const r = runBin(['detach', xml, '--json', '--root', h.root]);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(simulatedWrites(h.root).map((w) => `${w.path} ${w.value.trim()} ${w.result}`)).toEqual([
      '/sys/bus/pci/drivers/e1000e/unbind 0000:01:00.0 ok',
      '/sys/bus/pci/drivers/vfio-pci/new_id 8086 10d3 ok',
      '/sys/bus/pci/drivers/vfio-pci/bind 0000:01:00.0 ENODEV',
      '/sys/bus/pci/drivers/vfio-pci/remove_id 8086 10d3 ok',
    ]);
    expect(drivers(h.root)).toEqual({ ...before, '0000:01:00.0': 'vfio-pci' });
    expect(readSimState(h.root).drivers.find((d) => d.name === 'vfio-pci')!.dynamicIds).toEqual([]);
    expect((runBin(['reattach', xml, '--root', h.root])).code).toBe(0);
    expect(drivers(h.root)).toEqual(before);
  });

  tallied('an unbound device with the same ID in another group is named, and nothing is written (exit 6)', async () => {
    const desc = tinyHost({ driverOverride: false, release: '3.10.0-1160.el7.x86_64' });
    desc.devices.find((d) => d.address === '0000:02:00.0')!.driver = null;
    const h = simulatedHost(desc);
    const before = drivers(h.root);
    const r = runBin(['detach', tempFile('nic.xml', nic), '--root', h.root]);
    expect(r.code).toBe(6);
    expect(r.stderr).toMatch(/0000:02:00.0 .*same ID 8086:10d3.*not bound to any driver.*new_id/);
    expect(simulatedWrites(h.root)).toEqual([]);
    expect(drivers(h.root)).toEqual(before);
    const check = json(runBin(['check', tempFile('nic.xml', nic), '--json', '--root', h.root]));
    expect(check.blockers.map((b: any) => [b.kind, b.device])).toEqual([['new-id-grab', '0000:02:00.0']]);
  });
});

describe('loading vfio-pci', () => {
  tallied("a device elsewhere whose override already says vfio-pci is named before loading, and nothing is written (exit 6)", async () => {
    const desc = tinyHost({ vfio: 'available' });
    const other = desc.devices.find((d) => d.address === '0000:02:00.0')!;
    other.driver = null;
    other.driverOverride = 'vfio-pci';
    const h = simulatedHost(desc);
    const before = drivers(h.root);
    const r = runBin(['detach', tempFile('nic.xml', domainXml('nic', [{ address: '0000:01:00.0', group: 'auto' }])), '--root', h.root]);
    expect(r.code).toBe(6);
    expect(r.stderr).toMatch(/Loading vfio-pci would bind 0000:02:00.0 .*driver_override already says vfio-pci/);
    expect(drivers(h.root)).toEqual(before);
    expect(readSimState(h.root).drivers.find((d) => d.name === 'vfio-pci')!.state).toBe('available');
  });
});

describe('unbind steps are verified', () => {
  tallied('a host driver re-claiming a member at once stops the detach before any member is bound to vfio-pci', async () => {
    const h = simulatedHost('workstation');
    const list = json(runBin(['list', '--json', '--root', h.root]));
    const g = list.groups.find((x: any) => x.autoWouldMove.length >= 2 && x.devices.every((d: any) => d.hostNeeds.length === 0));
    expect(g).toBeDefined();
    const [first, second] = g.autoWouldMove as [string, string];
    const reclaimer = g.devices.find((d: any) => d.address === second).driver as string;
    injectFault(h.root, { kind: 'reclaim', address: second, driver: reclaimer, times: 'always' });
    const before = drivers(h.root);
    const r = runBin(['detach', tempFile('g.xml', domainXml('g', [{ address: first, group: 'auto' }])), '--root', h.root], { VFIOCTL_VERIFY_TIMEOUT_MS: '50' });
    expect(r.code).toBe(10);
    expect(r.stderr).toContain(`${second} is bound to ${reclaimer} (a host driver re-claimed it), not unbound`);
    // no probe and no bind was ever written: no member reached vfio-pci beside one on a host driver
    expect(simulatedWrites(h.root).filter((w) => /drivers_probe|vfio-pci\/bind/.test(w.path))).toEqual([]);
    expect(drivers(h.root)).toEqual(before);
  });
});

describe('messages', () => {
  tallied('a detach of a file with no VFIO device says so', async () => {
    const h = simulatedHost('workstation');
    const r = runBin(['detach', tempFile('empty.xml', '<domain><name>empty</name><devices></devices></domain>'), '--json', '--root', h.root]);
    expect(r.code).toBe(0);
    expect(json(r).changed).toBe(false);
    expect(json(r).notes.join('\n')).toMatch(/Nothing to do: .*assigns no PCI device to VFIO/);
    expect(json(r).notes.join('\n')).not.toMatch(/already on vfio-pci/);
    const dry = runBin(['detach', tempFile('empty.xml', '<domain><name>empty</name><devices></devices></domain>'), '--dry-run', '--root', h.root]);
    expect(dry.stdout).toBe('Nothing to do: no PCI device is assigned to VFIO.\n');
  });

  tallied('an SR-IOV PF with VFs: the true reason (its VFs would be removed) and the remedy, exit 7', async () => {
    const h = simulatedHost('sriov-server');
    const pf = tempFile('pf.xml', domainXml('pf', [{ address: '0000:3b:00.0', group: 'auto' }]));
    const r = runBin(['detach', pf, '--root', h.root]);
    expect(r.code).toBe(7);
    expect(r.stderr).toMatch(/0000:3b:00.0 is an SR-IOV physical function with 8 virtual functions enabled/);
    expect(r.stderr).toMatch(/unbinding its driver removes its 8 VFs/);
    expect(r.stderr).not.toMatch(/refuses such a PF/);
    expect(r.stderr).toMatch(/sriov_numvfs/);
    // a VF on vfio-pci counts among those in use
    expect(runBin(['detach', network(['ens1f0v3']), '--root', h.root]).code).toBe(0);
    expect(runBin(['check', pf, '--root', h.root]).stdout).toMatch(/removes its 8 VFs, which may be in use, 1 of them on vfio-pci/);
  });
});
