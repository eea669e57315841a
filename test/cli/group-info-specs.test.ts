import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { json, runBin } from '../helpers/cli.js';
import { makeSimulatedHost } from '../helpers/sim-host.js';

describe('group-info takes addresses as lspci does, virsh nodedev names and interface names (through bin/, sriov-server)', () => {
  let host: { root: string; cleanup: () => void };
  beforeAll(() => {
    host = makeSimulatedHost('sriov-server');
  });
  afterAll(() => host.cleanup());
  const groupOf = (spec: string): number => {
    const r = runBin(['group-info', spec, '--json', '--root', host.root]);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    return json(r).group;
  };

  it.each([
    ['3b:0.1', 5],
    ['0000:3b:00', 5],
    ['3b:00', 5],
    ['pci_0000_3b_00_1', 5],
    ['eno1', 3],
    ['ens1f1', 5],
    ['18:0.0', 3],
  ])('%s → IOMMU group %i', (spec, group) => {
    expect(groupOf(spec)).toBe(group);
  });

  it('a slot whose functions sit in several groups prints each group (JSON: {"groups": [...]}, as list)', () => {
    const r = runBin(['group-info', '3b:02', '--json', '--root', host.root]);
    expect(r.code).toBe(0);
    const groups = json(r).groups;
    expect(groups.map((g: { group: number }) => g.group)).toEqual([10, 11, 12, 13, 14, 15, 16, 17]);
    expect(groups[7].devices.map((d: { address: string }) => d.address)).toEqual(['0000:3b:02.7']);
    const human = runBin(['group-info', '3b:02', '--root', host.root]).stdout;
    expect(human.match(/^IOMMU group \d+:/gm)).toHaveLength(8);
  });

  it.each([
    ['an interface the host does not have', 'eno9', 4, "There is no network interface 'eno9' on this host."],
    ['an empty slot', '3b:05', 4, 'No PCI device in slot 0000:3b:05 on this host.'],
    ['a path, refused before any lookup', '../../etc', 3, "Invalid PCI address or interface name '../../etc': it contains '/'."],
    ['a nodedev name with a bad function', 'pci_0000_3b_00_9', 3, "Invalid PCI address 'pci_0000_3b_00_9': function 9 is out of range"],
  ])('%s (%s): exit %i with a sentence', (_l, spec, code, message) => {
    const r = runBin(['group-info', spec, '--root', host.root]);
    expect(r.code).toBe(code);
    expect(r.stderr).toContain(message);
  });
});
