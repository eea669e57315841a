import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { json, listedGroups, runBin, runCli } from '../helpers/cli.js';
import { makeSimulatedHost } from '../helpers/sim-host.js';

/** A domain assigning one device with group='auto', as list and group-info's verdict supposes. */
const autoDomain = (address: string): string => {
  const [domain, bus, rest] = address.split(':');
  const [slot, fn] = rest!.split('.');
  return `<domain type='kvm'><name>vm</name><devices><hostdev mode='subsystem' type='pci' managed='yes'><driver name='vfio' group='auto'/><source><address domain='0x${domain}' bus='0x${bus}' slot='0x${slot}' function='0x${fn}'/></source></hostdev></devices></domain>\n`;
};

describe("list and group-info give check's answer for group='auto'", () => {
  let dir: string;
  beforeAll(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vfioctl-auto-'));
  });
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('sriov-server group 5 (a PF with VFs enabled): group-info says auto would not succeed, with the blocker check gives (exit 7)', () => {
    const host = makeSimulatedHost('sriov-server');
    try {
      const info = json(runBin(['group-info', '3b:00.1', '--json', '--root', host.root]));
      expect(info).toMatchObject({ group: 5, autoWouldMove: ['0000:3b:00.0', '0000:3b:00.1'], autoWouldSucceed: false });
      const file = path.join(dir, 'pf.xml');
      fs.writeFileSync(file, autoDomain('0000:3b:00.1'));
      const check = runBin(['check', file, '--json', '--root', host.root]);
      expect(check.code).toBe(7);
      expect(info.autoBlockers).toEqual(json(check).blockers.map((b: { message: string }) => b.message));
      const human = runBin(['group-info', '3b:00.1', '--root', host.root]).stdout;
      expect(human).toContain("group='auto' would not succeed (it would move 0000:3b:00.0, 0000:3b:00.1):\n    - 0000:3b:00.0 is an SR-IOV physical function");
      expect(human).not.toContain("group='auto' would move to vfio-pci");
    } finally {
      host.cleanup();
    }
  });

  it.each(['workstation', 'sriov-server', 'hypervisor'])('%s: the host bridge 00:00.0 is never proposed for a move', (name) => {
    const host = makeSimulatedHost(name);
    try {
      const groups = listedGroups(host.root);
      const withHostBridge = groups.filter((g: any) => g.devices.some((d: any) => d.class.startsWith('0600')));
      expect(withHostBridge.length).toBeGreaterThan(0);
      for (const g of withHostBridge) {
        const hostBridges = g.devices.filter((d: any) => d.class.startsWith('0600')).map((d: any) => d.address);
        expect(g.autoWouldMove.filter((a: string) => hostBridges.includes(a))).toEqual([]);
      }
    } finally {
      host.cleanup();
    }
  });

  it.each(['workstation', 'sriov-server'])('%s: for every group, list --json says what check moves, and succeeds exactly when check exits 0', async (name) => {
    const host = makeSimulatedHost(name);
    try {
      for (const g of listedGroups(host.root)) {
        const named = g.devices.find((d: any) => !d.bridge && !d.class.startsWith('0600'));
        if (!named) {
          expect([g.autoWouldMove, g.autoWouldSucceed]).toEqual([[], false]);
          continue;
        }
        const file = path.join(dir, `${name}-${g.group}.xml`);
        fs.writeFileSync(file, autoDomain(named.address));
        const check = json(await runCli(['check', file, '--json', '--root', host.root]));
        expect({ group: g.group, moves: g.autoWouldMove, ok: g.autoWouldSucceed, blockers: g.autoBlockers }).toEqual({
          group: g.group,
          moves: check.moves,
          ok: check.exitCode === 0,
          blockers: check.blockers.map((b: { message: string }) => b.message),
        });
      }
    } finally {
      host.cleanup();
    }
  });
});
