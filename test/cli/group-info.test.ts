import fs from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { HostDescription } from '../../src/mock/description.js';
import { loadHostDescription } from '../../src/mock/hosts.js';
import { json, listedDevices, listedGroups, runBin, runCli } from '../helpers/cli.js';
import { makeSimulatedHost } from '../helpers/sim-host.js';
import { tinyHost } from '../helpers/tiny-host.js';

describe('group-info and list through bin/ on the workstation host', () => {
  let host: { root: string; cleanup: () => void };
  beforeAll(() => {
    host = makeSimulatedHost('workstation');
  });
  afterAll(() => host.cleanup());

  it('group-info of the GPU lists its group, drivers, and that group=auto would move GPU and audio', () => {
    const r = runBin(['group-info', '01:00.0', '--json', '--root', host.root]);
    expect(r.code).toBe(0);
    const g = json(r);
    expect(g.viable).toBe(false);
    expect(g.devices.map((d: any) => [d.address, d.driver])).toEqual([
      ['0000:00:01.0', 'pcieport'],
      ['0000:01:00.0', 'nouveau'],
      ['0000:01:00.1', 'snd_hda_intel'],
    ]);
    const gpu = g.devices[1];
    expect(gpu).toMatchObject({ vendor: '10de', device: '2204', class: '030000', driverOverride: null, bridge: false });
    expect(g.devices[0].bridge).toBe(true);
    expect(g.blockers.map((b: any) => b.address)).toEqual(['0000:01:00.0', '0000:01:00.1']);
    expect(g.autoWouldMove).toEqual(['0000:01:00.0', '0000:01:00.1']);
    expect(g.bridgesStay).toEqual(['0000:00:01.0']);
  });

  it('accepts the full form, any case, and prints a human report with the verdict', () => {
    const r = runBin(['group-info', '0000:01:00.1', '--root', host.root]);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^IOMMU group \d+: not viable for VFIO$/m);
    expect(r.stdout).toContain('0000:01:00.0  VGA compatible controller [0300]: [10de:2204]  driver: nouveau');
    expect(r.stdout).toContain("group='auto' would move to vfio-pci: 0000:01:00.0, 0000:01:00.1; bridges stay: 0000:00:01.0");
    expect(runBin(['group-info', '0000:01:00.1'.toUpperCase(), '--root', host.root]).code).toBe(0);
  });

  it('flags what the host needs: the boot GPU, the NIC with the default route, the disk controller of /', () => {
    const all = listedDevices(host.root);
    const igpu = all.find((d: any) => d.address === '0000:00:02.0');
    expect(igpu.bootVga).toBe(true);
    expect(igpu.hostNeeds.join()).toMatch(/boot GPU/);
    const nic = all.find((d: any) => d.net.length > 0);
    expect(nic.net[0]).toMatchObject({ up: true, defaultRoute: true });
    expect(nic.hostNeeds.join()).toMatch(/default route/);
    const sata = all.find((d: any) => d.block.some((b: any) => b.mountpoint === '/'));
    expect(sata.hostNeeds.join()).toMatch(/mounted at \//);
  });

  it('prints a mount point as the kernel wrote it in proc/mounts: UTF-8, with \\040 for a space', () => {
    fs.appendFileSync(`${host.root}/proc/mounts`, '/dev/sda1 /srv/Daten\\040für\\040VMs ext4 rw 0 0\n');
    try {
      const all = listedDevices(host.root);
      const mounts = all.flatMap((d: any) => d.block.map((b: any) => b.mountpoint));
      expect(mounts).toContain('/srv/Daten für VMs');
    } finally {
      const text = fs.readFileSync(`${host.root}/proc/mounts`, 'utf8');
      fs.writeFileSync(`${host.root}/proc/mounts`, text.split('\n').filter((l) => !l.includes('Daten')).join('\n'));
    }
  });

  it('list prints every group in numeric order with the same per-device facts', () => {
    const groups = listedGroups(host.root);
    const numbers = groups.map((g: any) => g.group);
    expect(numbers).toEqual([...numbers].sort((a: number, b: number) => a - b));
    expect(groups.length).toBeGreaterThan(3);
    for (const g of groups) expect(Object.keys(g)).toEqual(expect.arrayContaining(['group', 'viable', 'devices', 'blockers', 'autoWouldMove']));
  });

  it.each([
    ['an address that is not one', ['group-info', '06:12.9'], 3, /Invalid PCI address '06:12.9'/],
    ['a slot out of range', ['group-info', '0000:06:20.0'], 3, /slot 20 is out of range/],
    ['an unknown device', ['group-info', '0000:09:00.0'], 4, /No PCI device 0000:09:00.0 on this host/],
  ])('%s: clear error, its exit code, no stack trace', (_l, args, code, message) => {
    const r = runBin([...args, '--root', host.root]);
    expect(r.code).toBe(code);
    expect(r.stderr).toMatch(message);
    expect(r.stderr).not.toMatch(/\bat .*\.(m?js|ts):\d+/);
  });
});

describe("the bridges group='auto' leaves where they are (pci-bridge: two e1000 behind a PCIe-to-PCI bridge)", () => {
  const BRIDGE = '0000:01:00.0';
  const NICS = ['0000:02:01.0', '0000:02:02.0'];

  /** pci-bridge as bundled (its bridge unbound), or with the bridge bound to shpchp, which blocks the group. */
  function pciBridge(bridgeDriver: 'shpchp' | null): HostDescription {
    const desc = loadHostDescription('pci-bridge');
    if (bridgeDriver === null) return desc;
    return {
      ...desc,
      drivers: [...desc.drivers, { name: 'shpchp', module: 'shpchp', state: 'loaded', ids: [{ vendor: '1b21', device: '1080' }] }],
      devices: desc.devices.map((d) => (d.address === BRIDGE ? { ...d, driver: bridgeDriver } : d)),
    };
  }

  it.each([
    ['unbound: it stays and does not block', null, { bridgesStay: [BRIDGE], bridgesBlock: [] }, `; bridges stay: ${BRIDGE}\n`],
    [
      "on shpchp: it stays and keeps the group from being viable, so group='auto' would not succeed (check's blocker)",
      'shpchp' as const,
      { bridgesStay: [], bridgesBlock: [BRIDGE] },
      ` would not succeed (it would move ${NICS.join(', ')}):\n    - IOMMU group 4 cannot become viable: ${BRIDGE} (the bridge is bound to shpchp`,
    ],
  ])('the bridge %s', async (_label, driver, bridges, humanTail) => {
    const host = makeSimulatedHost(pciBridge(driver));
    try {
      const g = json(await runCli(['group-info', NICS[0]!, '--json', '--root', host.root]));
      expect(g.viable).toBe(false);
      expect(g.autoWouldMove).toEqual(NICS);
      expect({ bridgesStay: g.bridgesStay, bridgesBlock: g.bridgesBlock }).toEqual(bridges);
      const human = await runCli(['group-info', NICS[0]!, '--root', host.root]);
      expect(human.stdout).toContain(driver === null ? `group='auto' would move to vfio-pci: ${NICS.join(', ')}${humanTail}` : `group='auto'${humanTail}`);
      expect(g.autoWouldSucceed).toBe(driver === null);
    } finally {
      host.cleanup();
    }
  });
});

describe('hosts where the IOMMU cannot help', () => {
  it('iommu-off: list and group-info say the IOMMU is off and how to turn it on (exit 5)', () => {
    const host = makeSimulatedHost('iommu-off');
    try {
      for (const args of [['list'], ['group-info', '00:02.0']]) {
        const r = runBin([...args, '--root', host.root]);
        expect(r.code).toBe(5);
        expect(r.stderr).toMatch(/IOMMU is off/);
        expect(r.stderr).toMatch(/intel_iommu=on/);
        expect(r.stderr).toMatch(/amd_iommu=on/);
      }
    } finally {
      host.cleanup();
    }
  });

  it('an unreadable root is its own error (exit 13)', () => {
    const r = runBin(['list', '--root', '/nonexistent/vfioctl-root']);
    expect(r.code).toBe(13);
    expect(r.stderr).toMatch(/does not exist/);
  });

  it('a directory that is not a host root says so (exit 13)', () => {
    const r = runBin(['list', '--root', '/usr']);
    expect(r.code).toBe(13);
    expect(r.stderr).toMatch(/does not look like a Linux host root/);
  });
});

describe('a device the IOMMU does not cover, on a host that has groups', () => {
  it('group-info says so and where to look (exit 5)', async () => {
    const desc = tinyHost();
    desc.devices.find((d) => d.address === '0000:02:00.0')!.iommuGroup = null;
    const host = makeSimulatedHost(desc);
    try {
      const r = runBin(['group-info', '02:00.0', '--root', host.root]);
      expect(r.code).toBe(5);
      expect(r.stderr).toMatch(/0000:02:00.0 is not in any IOMMU group, although the host has groups/);
      expect(r.stderr).toMatch(/dmesg/);
    } finally {
      host.cleanup();
    }
  });
});

describe('the real host root, /', () => {
  // The machine the tests run on: reading its own /sys must work (a path like '//sys/devices', made by
  // joining '/' by hand, once read as "outside the tree"). Whether it has an IOMMU depends on the machine.
  const haveSysfs = fs.existsSync('/sys/bus/pci/devices') && fs.readdirSync('/sys/bus/pci/devices').length > 0;
  it('snapshot, list and group-info read this machine as it is: no "not trustworthy", and list says whether there is an IOMMU', () => {
    if (!haveSysfs) {
      // A container without /sys: the one clear error, not a crash.
      const r = runBin(['list', '--root', '/']);
      expect([r.code, r.stderr]).toEqual([13, expect.stringMatching(/does not look like a Linux host root/)]);
      return;
    }
    const snap = runBin(['snapshot', '--root', '/']);
    expect(snap.stderr).toBe('');
    expect(snap.code).toBe(0);
    const first = fs.readdirSync('/sys/bus/pci/devices').sort()[0]!;
    for (const args of [['list'], ['list', '--json'], ['group-info', first]]) {
      const r = runBin([...args, '--root', '/']);
      expect(r.stderr).not.toMatch(/trustworthy|cannot be read|Internal error/i);
      expect([0, 5]).toContain(r.code); // 5: the IOMMU is off on this machine
      expect(r.code === 0).toBe(fs.readdirSync('/sys/kernel/iommu_groups').length > 0);
    }
  });
});
