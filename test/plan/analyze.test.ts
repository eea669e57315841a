import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Host } from '../../src/host/host.js';
import type { DeviceDescription, HostDescription } from '../../src/mock/description.js';
import { analyze, type Analysis, type BlockerKind } from '../../src/plan/analyze.js';
import { memberAction, moveScope, type MoveScope } from '../../src/plan/member-action.js';
import { kernelRules } from '../../src/pci/kernel-rules.js';
import { parseLibvirtXml } from '../../src/xml/index.js';
import { drv, fakeDevice } from '../helpers/devices.js';
import { makeSimulatedHost, type SimHost } from '../helpers/sim-host.js';
import { domainXml, type HostdevSpec } from '../helpers/xml.js';

/**
 * The planner in-process: a libvirt document against a small simulated host, one case per blocker kind and
 * per group mode. analyze() only reads, so each host tree is built once and shared by its tests.
 */
const ROOT_PORT = '0000:00:01.0';
const GPU = '0000:01:00.0';
const AUDIO = '0000:01:00.1';
const SHPC_BRIDGE = '0000:00:1c.0';
const NIC_BEHIND_SHPC = '0000:02:00.0';
const BOOT_GPU = '0000:00:02.0';
const PF = '0000:05:00.0';
const VF = '0000:05:10.0';
const NO_GROUP = '0000:06:00.0';
const PCI_BRIDGE = '0000:00:1e.0';
const NIC = '0000:08:00.0';
const NIC_MATE = '0000:08:00.1';
const ON_VFIO = '0000:09:00.0';

function plannerHost(opts: { iommu?: boolean; vfio?: 'loaded' | 'available' | 'missing' } = {}): HostDescription {
  const iommu = opts.iommu ?? true;
  const dev = (d: Partial<DeviceDescription> & Pick<DeviceDescription, 'address' | 'device' | 'class'>): DeviceDescription => ({
    parent: null,
    vendor: '8086',
    subsystemVendor: '8086',
    subsystemDevice: '0000',
    headerType: d.class.startsWith('0604') ? 1 : 0,
    driver: null,
    driverOverride: null,
    ...d,
    iommuGroup: iommu ? (d.iommuGroup ?? null) : null,
  });
  return {
    format: 'vfioctl-host/1',
    name: 'planner',
    summary: 'one group per situation the planner decides on',
    kernel: { release: '6.1.0-27-amd64', driverOverride: true, driversAutoprobe: true },
    drivers: [
      { name: 'pcieport', module: null, state: 'loaded', ids: [{ vendor: '*', device: '*', class: '060400', classMask: 'ffff00' }] },
      { name: 'shpchp', module: 'shpchp', state: 'loaded', ids: [{ vendor: '8086', device: 'a111' }] },
      { name: 'nouveau', module: 'nouveau', state: 'loaded', ids: [{ vendor: '10de', device: '*', class: '030000', classMask: 'ff0000' }] },
      { name: 'snd_hda_intel', module: 'snd_hda_intel', state: 'loaded', ids: [{ vendor: '10de', device: '10f0' }] },
      { name: 'i915', module: 'i915', state: 'loaded', ids: [{ vendor: '8086', device: '3e92' }] },
      { name: 'e1000e', module: 'e1000e', state: 'loaded', ids: [{ vendor: '8086', device: '10d3' }] },
      { name: 'ixgbe', module: 'ixgbe', state: 'loaded', ids: [{ vendor: '8086', device: '10fb' }] },
      { name: 'ixgbevf', module: 'ixgbevf', state: 'loaded', ids: [{ vendor: '8086', device: '10ed' }] },
      { name: 'vfio-pci', module: 'vfio_pci', state: opts.vfio ?? 'loaded', ids: [] },
    ],
    devices: [
      // Group 1: a GPU and its audio function behind their root port (the workstation's case).
      dev({ address: ROOT_PORT, device: 'a110', class: '060400', driver: 'pcieport', iommuGroup: 1 }),
      dev({ address: GPU, parent: ROOT_PORT, vendor: '10de', device: '1c82', class: '030000', driver: 'nouveau', iommuGroup: 1, bootVga: false, multifunction: true }),
      dev({ address: AUDIO, parent: ROOT_PORT, vendor: '10de', device: '10f0', class: '040300', driver: 'snd_hda_intel', iommuGroup: 1, multifunction: true }),
      // Group 2: a NIC behind a bridge whose driver (shpchp) does not hand DMA ownership to VFIO.
      dev({ address: SHPC_BRIDGE, device: 'a111', class: '060400', driver: 'shpchp', iommuGroup: 2 }),
      dev({ address: NIC_BEHIND_SHPC, parent: SHPC_BRIDGE, device: '10d3', class: '020000', driver: 'e1000e', iommuGroup: 2 }),
      // Group 3: the GPU the console runs on.
      dev({ address: BOOT_GPU, device: '3e92', class: '030000', driver: 'i915', iommuGroup: 3, bootVga: true }),
      // Groups 4 and 5: an SR-IOV PF with one VF enabled.
      dev({ address: PF, device: '10fb', class: '020000', driver: 'ixgbe', iommuGroup: 4, sriov: { totalvfs: 63, numvfs: 1, driversAutoprobe: true } }),
      dev({ address: VF, device: '10ed', class: '020000', driver: 'ixgbevf', iommuGroup: 5, physfn: PF, vfIndex: 0 }),
      // In no group although the IOMMU is on.
      dev({ address: NO_GROUP, device: '10d3', class: '020000', driver: 'e1000e', iommuGroup: null }),
      // Group 6: a PCI bridge with no driver.
      dev({ address: PCI_BRIDGE, device: '244e', class: '060401', iommuGroup: 6 }),
      // Group 7: a NIC and an unbound function next to it.
      dev({ address: NIC, device: '10d3', class: '020000', driver: 'e1000e', iommuGroup: 7, multifunction: true }),
      dev({ address: NIC_MATE, device: '10d4', class: '020000', iommuGroup: 7, multifunction: true }),
      // Group 8: a device already on vfio-pci (unbound while vfio-pci is not loaded).
      dev({ address: ON_VFIO, device: '10d3', class: '020000', driver: (opts.vfio ?? 'loaded') === 'loaded' ? 'vfio-pci' : null, iommuGroup: 8 }),
    ],
    mounts: [],
    swaps: [],
    routes: [],
  };
}

const trees: SimHost[] = [];
afterAll(() => {
  while (trees.length) trees.pop()!.cleanup();
});
function openHost(desc: HostDescription): Host {
  const tree = makeSimulatedHost(desc);
  trees.push(tree);
  return new Host(tree.root);
}

let host: Host;
beforeAll(() => {
  host = openHost(plannerHost());
});

function plan(hostdevs: HostdevSpec[], opts: { force?: boolean; on?: Host } = {}): Analysis {
  const doc = parseLibvirtXml(domainXml('vm', hostdevs), 'vm.xml');
  return analyze(doc, opts.on ?? host, { force: opts.force ?? false });
}
const kinds = (a: Analysis): BlockerKind[] => a.blockers.map((b) => b.kind);
const moves = (a: Analysis): string[] => a.moves.map((m) => m.dev.name);
const fates = (a: Analysis, group: number): Record<string, string> =>
  Object.fromEntries(a.groups.find((g) => g.group === group)!.members.map((m) => [m.address, m.fate]));

describe('group modes', () => {
  it("group='auto' moves the whole group and leaves the root port where it is", () => {
    const a = plan([{ address: GPU, group: 'auto' }]);
    expect(a.blockers).toEqual([]);
    expect(moves(a)).toEqual([GPU, AUDIO]);
    expect(fates(a, 1)).toEqual({ [ROOT_PORT]: 'bridge-stays', [GPU]: 'move', [AUDIO]: 'move' });
    expect(a.groups[0]).toMatchObject({ group: 1, mode: 'auto', viableNow: false, viableAfter: true });
  });

  it("group='manual' moves only the device it names, and its group mate stays", () => {
    const a = plan([{ address: NIC }]);
    expect(a.blockers).toEqual([]);
    expect(moves(a)).toEqual([NIC]);
    expect(fates(a, 7)).toEqual({ [NIC]: 'move', [NIC_MATE]: 'stays' });
    expect(a.groups[0]!.members.map((m) => m.requested)).toEqual([true, false]);
  });

  it('a device already on vfio-pci is not moved again', () => {
    const a = plan([{ address: ON_VFIO }]);
    expect(a.blockers).toEqual([]);
    expect(moves(a)).toEqual([]);
    expect(fates(a, 8)).toEqual({ [ON_VFIO]: 'already' });
  });

  it('the assignments report their devices and groups', () => {
    const a = plan([{ address: GPU, group: 'auto' }, { address: NIC, managed: 'no' }]);
    expect(a.assignments.map((s) => [s.managed, s.groupMode, s.devices, s.groups])).toEqual([
      [true, 'auto', [GPU], [1]],
      [false, 'manual', [NIC], [7]],
    ]);
  });
});

describe('one blocker per reason a detach would refuse', () => {
  it('duplicate: the same device twice in a document not read from text (src/xml refuses such text before any host lookup)', () => {
    const doc = parseLibvirtXml(domainXml('vm', [{ address: NIC }]), 'vm.xml');
    const once = doc.assignments[0]!;
    const a = analyze({ ...doc, assignments: [once, { ...once, source: { ...once.source, line: 11 } }] }, host, { force: false });
    expect(kinds(a)).toEqual(['duplicate']);
    expect(a.blockers[0]!.message).toBe(`${NIC} is assigned more than once: <hostdev> at vm.xml:5 and <hostdev> at vm.xml:11.`);
  });

  it('conflict: one group named with different group modes', () => {
    const a = plan([{ address: GPU, group: 'auto' }, { address: AUDIO, group: 'manual' }]);
    expect(kinds(a)).toEqual(['conflict']);
    expect(a.blockers[0]!.message).toMatch(/^IOMMU group 1 is named with different group modes: .*Use the same <driver group=\.\.\.> for every device of one group\.$/);
  });

  it('missing: a device that is not on this host', () => {
    const a = plan([{ address: '0000:0a:00.0' }]);
    expect(kinds(a)).toEqual(['missing']);
    expect(a.blockers[0]!.message).toBe('<hostdev> at vm.xml:5: no PCI device 0000:0a:00.0 on this host.');
  });

  it('iommu-off: no IOMMU groups at all', () => {
    const a = plan([{ address: NIC }], { on: openHost(plannerHost({ iommu: false })) });
    expect(kinds(a)).toEqual(['iommu-off']);
    expect(a.groups).toEqual([]);
  });

  it('no-group: one device outside every group while the IOMMU is on', () => {
    const a = plan([{ address: NO_GROUP }]);
    expect(kinds(a)).toEqual(['no-group']);
    expect(a.blockers[0]).toMatchObject({ device: NO_GROUP });
  });

  it('vfio-missing: no vfio-pci module for this kernel', () => {
    const a = plan([{ address: NIC }], { on: openHost(plannerHost({ vfio: 'missing' })) });
    expect(kinds(a)).toEqual(['vfio-missing']);
    expect(a.vfio).toBe('missing');
  });

  it('a loadable vfio-pci is a note, not a blocker', () => {
    const a = plan([{ address: NIC }], { on: openHost(plannerHost({ vfio: 'available' })) });
    expect(a.blockers).toEqual([]);
    expect(a.notes).toEqual(['vfio-pci is not loaded: detach will load it first (modprobe vfio-pci).']);
  });

  it("not-viable with group='manual': a group mate on a host driver is in the way", () => {
    const a = plan([{ address: GPU }]);
    expect(kinds(a)).toEqual(['not-viable']);
    expect(a.blockers[0]!.message).toBe(
      `IOMMU group 1 would not be viable with group='manual': members in the way: ${AUDIO} (it is bound to the host driver snd_hda_intel). Add group='auto' to <driver name='vfio'/> to move the whole group (for a domain libvirt has defined, which drops that attribute: virsh metadata vm https://vfioctl.dev/xmlns/libvirt/1 --key vfioctl --set '<groups default="auto"/>'), or move those devices yourself.`,
    );
    expect(a.groups[0]!.viableAfter).toBe(false);
  });

  it("not-viable with group='manual' from vfioctl's metadata: the advice points at the metadata, where libvirt keeps the mode", () => {
    const xml = domainXml('vm', [{ address: GPU }]).replace(
      '<devices>',
      `<metadata><v:groups xmlns:v="https://vfioctl.dev/xmlns/libvirt/1" default="manual"/></metadata>\n<devices>`,
    );
    const a = analyze(parseLibvirtXml(xml, 'vm.xml'), host, { force: false });
    expect(kinds(a)).toEqual(['not-viable']);
    expect(a.blockers[0]!.message).toMatch(
      /with group='manual': members in the way: .*\. Set group="auto" in vfioctl's metadata \(vm\.xml:\d+\) to move the whole group \(virsh metadata vm https:\/\/vfioctl\.dev\/xmlns\/libvirt\/1 --key vfioctl --set '<groups default="auto"\/>'\), or move those devices yourself\.$/,
    );
  });

  it('not-viable, bridges only: a bridge on a driver other than pcieport', () => {
    const a = plan([{ address: NIC_BEHIND_SHPC, group: 'auto' }]);
    expect(kinds(a)).toEqual(['not-viable']);
    expect(fates(a, 2)).toEqual({ [SHPC_BRIDGE]: 'bridge-blocks', [NIC_BEHIND_SHPC]: 'move' });
    expect(a.blockers[0]!.message).toMatch(/^IOMMU group 2 cannot become viable: 0000:00:1c\.0 \(the bridge is bound to shpchp, .*\)\. Unbind the bridge from that driver by hand; vfio-pci does not take bridges\.$/);
  });

  it("unmanaged: managed='no' on a device that is not on vfio-pci (which then also keeps its group from being viable)", () => {
    const a = plan([{ address: NIC, managed: 'no' }]);
    expect(kinds(a)).toEqual(['unmanaged', 'not-viable']);
    expect(a.blockers[0]!.message).toBe(
      `<hostdev> at vm.xml:5: ${NIC} has managed='no', so libvirt expects it on vfio-pci already, but it is bound to e1000e. Bind it to vfio-pci yourself, or set managed='yes'.`,
    );
    expect(moves(a)).toEqual([]);
  });

  it("managed='no' on a device already on vfio-pci is fine", () => {
    expect(plan([{ address: ON_VFIO, managed: 'no' }]).blockers).toEqual([]);
  });

  it('bridge: a PCI bridge named for assignment', () => {
    const a = plan([{ address: PCI_BRIDGE }]);
    expect(kinds(a)).toEqual(['bridge']);
    expect(a.blockers[0]!.message).toBe(`<hostdev> at vm.xml:5: ${PCI_BRIDGE} is a PCI bridge; vfio-pci does not take bridges, so it cannot be assigned.`);
  });

  it('sriov-pf: a physical function with its VFs enabled', () => {
    const a = plan([{ address: PF }]);
    expect(kinds(a)).toEqual(['sriov-pf']);
    expect(a.blockers[0]!.message).toMatch(/^0000:05:00\.0 is an SR-IOV physical function with 1 virtual function enabled: unbinding its driver removes its 1 VF, .*sriov_numvfs\.$/);
  });

  it('host-needs: the boot GPU', () => {
    const a = plan([{ address: BOOT_GPU }]);
    expect(kinds(a)).toEqual(['host-needs']);
    expect(a.blockers[0]!.message).toBe(
      `${BOOT_GPU}: it is the boot GPU (boot_vga=1) driven by i915: the host's console runs on it. Detaching it would take it from the host; use --force if you really mean it.`,
    );
    expect(a.groups[0]!.members[0]!.hostNeeds).toHaveLength(1);
  });

  it('--force turns host-needs into a note and keeps the move', () => {
    const a = plan([{ address: BOOT_GPU }], { force: true });
    expect(a.blockers).toEqual([]);
    expect(a.notes).toEqual([`--force: taking ${BOOT_GPU}: it is the boot GPU (boot_vga=1) driven by i915: the host's console runs on it`]);
    expect(moves(a)).toEqual([BOOT_GPU]);
  });

  it('blockers of several groups come in group order, moves in address order', () => {
    const a = plan([{ address: NIC }, { address: BOOT_GPU }, { address: VF }]);
    expect(kinds(a)).toEqual(['host-needs']);
    expect(moves(a)).toEqual([BOOT_GPU, VF, NIC]);
    expect(a.groups.map((g) => g.group)).toEqual([3, 5, 7]);
  });
});

describe('what vfioctl leaves alone', () => {
  it("a <driver name='kvm'> hostdev is a note, not an assignment", () => {
    const a = plan([{ address: NIC, driver: 'kvm' }]);
    expect(a.assignments).toEqual([]);
    expect(a.notes).toEqual(["<hostdev> at vm.xml:5 uses <driver name='kvm'>: vfioctl handles VFIO assignment only and leaves it alone."]);
  });
});

describe("one decision of a member's action, for both modes", () => {
  const rules = kernelRules('6.1.0-27-amd64');
  const nic = (driver: string | null) => fakeDevice('0000:02:00.0', { driver: driver ? drv(driver) : null });
  const bridge = (driver: string | null) => fakeDevice('0000:00:1c.0', { class: '060400', driver: driver ? drv(driver) : null });

  it.each([
    ['whole-group', 'endpoint on e1000e', nic('e1000e'), 'move'],
    ['whole-group', 'endpoint on a variant vfio driver', nic('mlx5_vfio_pci'), 'already'],
    ['whole-group', 'bridge on pcieport', bridge('pcieport'), 'bridge-stays'],
    ['whole-group', 'bridge on shpchp', bridge('shpchp'), 'bridge-blocks'],
    ['this-device', 'endpoint on e1000e', nic('e1000e'), 'move'],
    ['this-device', 'endpoint on vfio-pci', nic('vfio-pci'), 'already'],
    ['none', 'endpoint on e1000e', nic('e1000e'), 'stays'],
    ['none', 'endpoint on vfio-pci', nic('vfio-pci'), 'stays'],
    ['none', 'unbound bridge', bridge(null), 'bridge-stays'],
    ['none', 'bridge on shpchp', bridge('shpchp'), 'bridge-blocks'],
  ] as const)('%s, %s: %s', (scope, _label, dev, action) => {
    expect(memberAction(dev, rules, scope as MoveScope)).toBe(action);
  });

  it.each([
    ['this-device', 'on mlx5_vfio_pci, model vfio-pci', nic('mlx5_vfio_pci'), 'vfio-pci', 'move'],
    ['this-device', 'on vfio-pci, model mlx5_vfio_pci', nic('vfio-pci'), 'mlx5_vfio_pci', 'move'],
    ['whole-group', 'named, on mlx5_vfio_pci, model vfio-pci', nic('mlx5_vfio_pci'), 'vfio-pci', 'move'],
    ['this-device', 'on mlx5_vfio_pci, model mlx5_vfio_pci', nic('mlx5_vfio_pci'), 'mlx5_vfio_pci', 'already'],
    ['this-device', 'on vfio-pci, no model', nic('vfio-pci'), undefined, 'already'],
    ['whole-group', 'a group mate on mlx5_vfio_pci (no model of its own)', nic('mlx5_vfio_pci'), undefined, 'already'],
    ['none', 'on mlx5_vfio_pci, model vfio-pci, not managed', nic('mlx5_vfio_pci'), 'vfio-pci', 'stays'],
  ] as const)('a device on a vfio driver moves only when its own named model is another one, as libvirt rebinds it: %s, %s: %s', (scope, _label, dev, model, action) => {
    expect(memberAction(dev, rules, scope as MoveScope, model)).toBe(action);
  });

  it("group='auto' moves the whole group only when a managed assignment names a member", () => {
    expect(moveScope('auto', new Set([GPU]), AUDIO)).toBe('whole-group');
    expect(moveScope('auto', new Set(), GPU)).toBe('none');
    expect(moveScope('manual', new Set([GPU]), GPU)).toBe('this-device');
    expect(moveScope('manual', new Set([GPU]), AUDIO)).toBe('none');
  });
});
