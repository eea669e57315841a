import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it, vi } from 'vitest';
import { findListedDevice, json, listedDevices, listedGroups, runBin, runCli } from '../helpers/cli.js';
import { useSimulatedHosts, simulatedWrites } from '../helpers/sim-host.js';
import { domainXml, tempFile } from '../helpers/xml.js';

/** A fresh simulated host (a bundled one, by name) for this test, removed after it. */
const host = useSimulatedHosts();

/** Every device's driver, read through vfioctl list --json. */
function drivers(root: string): Record<string, string | null> {
  return Object.fromEntries(listedDevices(root).map((d: any) => [d.address, d.driver]));
}
function groupOf(root: string, addr: string): any {
  return json(runBin(['group-info', addr, '--json', '--root', root]));
}

const GPU_AUTO = domainXml('gpu', [
  { address: '0000:01:00.0', group: 'auto' },
  { address: '0000:01:00.1', group: 'auto' },
]);

describe("detach with group='auto'", () => {
  it('workstation: GPU and audio end on vfio-pci, the root port stays on pcieport, the group is viable', () => {
    const h = host('workstation');
    const xml = tempFile('gpu.xml', GPU_AUTO);
    const before = drivers(h.root);
    const r = runBin(['detach', xml, '--root', h.root]);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const after = drivers(h.root);
    expect(after['0000:01:00.0']).toBe('vfio-pci');
    expect(after['0000:01:00.1']).toBe('vfio-pci');
    expect(after['0000:00:01.0']).toBe('pcieport');
    expect(groupOf(h.root, '01:00.0').viable).toBe(true);
    // Nothing else on the host changed.
    for (const [addr, drv] of Object.entries(before)) if (!addr.startsWith('0000:01:00.')) expect(after[addr]).toBe(drv);
  });

  it('the dry run prints exactly the writes the real run then performs, in order, and performs none', () => {
    const h = host('workstation');
    const xml = tempFile('gpu.xml', GPU_AUTO);
    const dry = json(runBin(['detach', xml, '--dry-run', '--json', '--root', h.root]));
    expect(simulatedWrites(h.root)).toEqual([]);
    expect(dry.writes).toEqual([
      { path: '/sys/bus/pci/devices/0000:01:00.0/driver_override', value: 'vfio-pci' },
      { path: '/sys/bus/pci/devices/0000:01:00.1/driver_override', value: 'vfio-pci' },
      { path: '/sys/bus/pci/drivers/snd_hda_intel/unbind', value: '0000:01:00.1' },
      { path: '/sys/bus/pci/drivers/nouveau/unbind', value: '0000:01:00.0' },
      { path: '/sys/bus/pci/drivers_probe', value: '0000:01:00.0' },
      { path: '/sys/bus/pci/drivers_probe', value: '0000:01:00.1' },
    ]);
    const human = runBin(['detach', xml, '--dry-run', '--root', h.root]);
    expect(human.stdout).toContain('/sys/bus/pci/devices/0000:01:00.0/driver_override <- vfio-pci');
    const real = json(runBin(['detach', xml, '--json', '--root', h.root]));
    expect(real.changed).toBe(true);
    expect(real.writes).toEqual(dry.writes);
    expect(simulatedWrites(h.root)).toEqual(dry.writes.map((w: any) => ({ ...w, result: 'ok' })));
  });

  it('is idempotent: a second detach has nothing to do, exits 0 and writes nothing', () => {
    const h = host('workstation');
    const xml = tempFile('gpu.xml', GPU_AUTO);
    expect(runBin(['detach', xml, '--root', h.root]).code).toBe(0);
    const n = simulatedWrites(h.root).length;
    const again = runBin(['detach', xml, '--json', '--root', h.root]);
    expect(again.code).toBe(0);
    expect(json(again)).toMatchObject({ changed: false, writes: [] });
    expect(simulatedWrites(h.root).length).toBe(n);
    expect(runBin(['detach', xml, '--root', h.root]).stdout).toMatch(/already on vfio-pci/);
  });

  it('detach then reattach restores every original driver and empties the journal', () => {
    const h = host('workstation');
    const xml = tempFile('gpu.xml', GPU_AUTO);
    const before = drivers(h.root);
    expect(runBin(['detach', xml, '--root', h.root]).code).toBe(0);
    const back = runBin(['reattach', xml, '--json', '--root', h.root]);
    expect(back.code).toBe(0);
    expect(json(back).changed).toBe(true);
    expect(drivers(h.root)).toEqual(before);
    const journal = JSON.parse(fs.readFileSync(path.join(h.root, 'run/vfioctl/journal.json'), 'utf8'));
    expect(journal.devices).toEqual({});
    expect(journal.operation).toBeNull();
    // and the overrides are cleared, with a newline (a zero-length write would leave them)
    expect(fs.readFileSync(path.join(h.root, 'sys/bus/pci/devices/0000:01:00.0/driver_override'), 'utf8')).toBe('(null)\n');
    expect(json(runBin(['reattach', xml, '--json', '--root', h.root])).changed).toBe(false);
  });

  it('pci-bridge: both NICs behind the bridge move, the bridge stays unbound', () => {
    const h = host('pci-bridge');
    const g = listedGroups(h.root).find((x: any) => x.devices.some((d: any) => d.bridge) && x.devices.length === 3);
    const nics = g.devices.filter((d: any) => !d.bridge).map((d: any) => d.address);
    const bridge = g.devices.find((d: any) => d.bridge).address;
    const xml = tempFile('nic.xml', domainXml('nic', [{ address: nics[0], group: 'auto' }]));
    expect(runBin(['detach', xml, '--root', h.root]).code).toBe(0);
    const after = drivers(h.root);
    expect(nics.map((n: string) => after[n])).toEqual(['vfio-pci', 'vfio-pci']);
    expect(after[bridge]).toBeNull();
  });
});

describe("group='manual' and managed='no'", () => {
  it('manual on a shared group is refused before any write, naming the members in the way and suggesting auto', () => {
    const h = host('workstation');
    const xml = tempFile('gpu.xml', domainXml('gpu', [{ address: '0000:01:00.0' }]));
    const r = runBin(['detach', xml, '--root', h.root]);
    expect(r.code).toBe(7);
    expect(r.stderr).toMatch(/would not be viable with group='manual': members in the way: 0000:01:00.1 \(it is bound to the host driver snd_hda_intel\)/);
    expect(r.stderr).toMatch(/group='auto'/);
    expect(simulatedWrites(h.root)).toEqual([]);
    expect(drivers(h.root)['0000:01:00.0']).toBe('nouveau');
  });

  it('manual on a single-device group moves just that device', () => {
    const h = host('sriov-server');
    const vf = findListedDevice(h.root, 'VF', (d: any) => d.sriov?.role === 'vf');
    const xml = tempFile('vf.xml', domainXml('vf', [{ address: vf.address, group: 'manual' }]));
    const r = runBin(['detach', xml, '--json', '--root', h.root]);
    expect(r.code).toBe(0);
    expect(json(r).devices.filter((d: any) => d.action === 'moved').map((d: any) => d.address)).toEqual([vf.address]);
    expect(drivers(h.root)[vf.address]).toBe('vfio-pci');
  });

  it("managed='no' moves nothing and says what is wrong when the device is not on vfio-pci", () => {
    const h = host('sriov-server');
    const vf = findListedDevice(h.root, 'VF', (d: any) => d.sriov?.role === 'vf');
    const unmanaged = tempFile('vf.xml', domainXml('vf', [{ address: vf.address, managed: 'no' }]));
    const r = runBin(['detach', unmanaged, '--root', h.root]);
    expect(r.code).toBe(7);
    expect(r.stderr).toContain(`has managed='no', so libvirt expects it on vfio-pci already, but it is bound to ${vf.driver}`);
    expect(simulatedWrites(h.root)).toEqual([]);
    // Once the admin has put it on vfio-pci, the unmanaged assignment checks out.
    const managed = tempFile('vf2.xml', domainXml('vf', [{ address: vf.address }]));
    expect(runBin(['detach', managed, '--root', h.root]).code).toBe(0);
    expect(runBin(['check', unmanaged, '--root', h.root]).code).toBe(0);
    expect(runBin(['detach', unmanaged, '--json', '--root', h.root]).code).toBe(0);
  });
});

describe('the host survives', () => {
  it.each([
    ['the boot GPU', '0000:00:02.0', /boot GPU \(boot_vga=1\) driven by i915/],
  ])('refuses %s without --force, naming the device and why', (_l, addr, why) => {
    const h = host('workstation');
    const xml = tempFile('x.xml', domainXml('x', [{ address: addr, group: 'auto' }]));
    const r = runBin(['detach', xml, '--root', h.root]);
    expect(r.code).toBe(6);
    expect(r.stderr).toContain(addr);
    expect(r.stderr).toMatch(why);
    expect(r.stderr).toMatch(/--force/);
    expect(simulatedWrites(h.root)).toEqual([]);
  });

  it('refuses the NIC carrying the default route and the controller holding /, and --force takes them', () => {
    const h = host('workstation');
    const all = listedDevices(h.root);
    const nic = all.find((d: any) => d.net.some((n: any) => n.defaultRoute));
    const sata = all.find((d: any) => d.block.some((b: any) => b.mountpoint === '/'));
    for (const [dev, why] of [
      [nic, /default route/],
      [sata, /mounted at \//],
    ] as const) {
      const xml = tempFile('x.xml', domainXml('x', [{ address: dev.address, group: 'auto' }]));
      const written = simulatedWrites(h.root).length;
      const r = runBin(['detach', xml, '--root', h.root]);
      expect(r.code).toBe(6);
      expect(r.stderr).toMatch(why);
      expect(simulatedWrites(h.root).length).toBe(written);
      const forced = runBin(['detach', xml, '--force', '--root', h.root]);
      expect(forced.code).toBe(0);
      expect(drivers(h.root)[dev.address]).toBe('vfio-pci');
    }
  });

  it("a NIC taken with --force has no interface on vfio-pci; reattached, its interface is back, down, and the host no longer needs it", () => {
    const h = host('workstation');
    const xml = tempFile('x.xml', domainXml('x', [{ address: '0000:00:1f.6', group: 'auto' }]));
    expect(runBin(['detach', xml, '--force', '--root', h.root]).code).toBe(0);
    const nic = () => groupOf(h.root, '00:1f.6').devices.find((d: any) => d.address === '0000:00:1f.6');
    expect(nic()).toMatchObject({ driver: 'vfio-pci', net: [], hostNeeds: [] });
    expect(runBin(['reattach', xml, '--root', h.root]).code).toBe(0);
    expect(nic()).toMatchObject({ driver: 'e1000e', net: [{ name: 'eno1', operstate: 'down', up: false, defaultRoute: false }], hostNeeds: [] });
  });
});

describe('hosts that cannot', () => {
  it('no-vfio: detach fails with exit 8 and no write', () => {
    const h = host('no-vfio');
    const dev = findListedDevice(h.root, 'endpoint the host does not need', (d: any) => !d.bridge && d.hostNeeds.length === 0);
    const xml = tempFile('x.xml', domainXml('x', [{ address: dev.address, group: 'auto' }]));
    const r = runBin(['detach', xml, '--root', h.root]);
    expect(r.code).toBe(8);
    expect(r.stderr).toMatch(/vfio-pci is not loaded/);
    expect(simulatedWrites(h.root)).toEqual([]);
  });

  it('a device missing on this host: exit 4', () => {
    const h = host('workstation');
    const xml = tempFile('x.xml', domainXml('x', [{ address: '0000:0a:00.0', group: 'auto' }]));
    const r = runBin(['detach', xml, '--root', h.root]);
    expect(r.code).toBe(4);
    expect(r.stderr).toMatch(/no PCI device 0000:0a:00.0 on this host/);
  });
});

describe('on a real host', () => {
  it('without root, detach stops with a clear permission error before any write (exit 9)', async () => {
    const xml = tempFile('x.xml', GPU_AUTO);
    // As an unprivileged user would run it: the real kernel at /, a uid that is not 0.
    const uid = vi.spyOn(process as { getuid: () => number }, 'getuid').mockReturnValue(1000);
    try {
      const r = await runCli(['detach', xml, '--root', '/']);
      expect(r.code).toBe(9);
      expect(r.stderr).toMatch(/detach writes to sysfs and needs root on a real host: run it with sudo/);
      expect(r.stderr).toMatch(/Nothing was written/);
    } finally {
      uid.mockRestore();
    }
  });
});
