import { describe, expect, it } from 'vitest';
import { kernelRules } from '../../src/pci/kernel-rules.js';
import { groupViability } from '../../src/plan/viability.js';
import { memberAction } from '../../src/plan/member-action.js';
import { drv, fakeDevice } from '../helpers/devices.js';

const current = kernelRules('6.1.0-18-amd64');
const old = kernelRules('5.15.0');

describe('group viability (docs/sysfs-semantics.md, measured with VFIO_GROUP_GET_STATUS)', () => {
  const bridge = (driver: string | null) => fakeDevice('0000:01:00.0', { class: '060400', driver: driver ? drv(driver) : null });
  const nic = (name: string, driver: string | null) => fakeDevice(name, { driver: driver ? drv(driver) : null });

  it.each([
    ['both NICs on vfio-pci', ['vfio-pci', 'vfio-pci'], true],
    ['one NIC on vfio-pci, one on e1000', ['vfio-pci', 'e1000'], false],
    ['one on pci-stub', ['vfio-pci', 'pci-stub'], true],
    ['one with no driver', ['vfio-pci', null], true],
    ['a variant driver (mlx5_vfio_pci)', ['mlx5_vfio_pci', 'vfio-pci'], true],
  ] as const)('%s', (_label, drivers, viable) => {
    const members = [bridge(null), nic('0000:02:01.0', drivers[0]), nic('0000:02:02.0', drivers[1])];
    expect(groupViability(members, current).viable).toBe(viable);
  });

  it('names the member in the way and why', () => {
    const v = groupViability([nic('0000:02:01.0', 'vfio-pci'), nic('0000:02:02.0', 'e1000')], current);
    expect(v.blockers.map((b) => [b.dev.name, b.reason])).toEqual([['0000:02:02.0', 'it is bound to the host driver e1000']]);
  });

  it('a root port on pcieport never blocks; a bridge on shpchp blocks on >= 5.19 but not on 5.15', () => {
    expect(groupViability([bridge('pcieport')], current).viable).toBe(true);
    expect(groupViability([bridge('shpchp')], current).viable).toBe(false);
    expect(groupViability([bridge('shpchp')], old).viable).toBe(true);
  });

  it("group='auto' moves endpoints, leaves bridges, and skips what is on vfio-pci", () => {
    expect(memberAction(bridge('pcieport'), current, 'whole-group')).toBe('bridge-stays');
    expect(memberAction(bridge(null), current, 'whole-group')).toBe('bridge-stays');
    expect(memberAction(bridge('shpchp'), current, 'whole-group')).toBe('bridge-blocks');
    expect(memberAction(nic('0000:02:01.0', 'e1000'), current, 'whole-group')).toBe('move');
    expect(memberAction(nic('0000:02:01.0', null), current, 'whole-group')).toBe('move');
    expect(memberAction(nic('0000:02:01.0', 'vfio-pci'), current, 'whole-group')).toBe('already');
  });
});
