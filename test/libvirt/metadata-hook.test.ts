import { describe, expect, it } from 'vitest';
import { VFIOCTL_NS } from '../../src/xml/index.js';
import { simulatedWrites } from '../helpers/sim-host.js';
import { callHook, domainXml, drivers, expectBridgeGroupGivenBack, expectBridgeGroupOnVfio, installed, journalDevices, liveDomainXml, POOL_NET as NET, poolNetworkXml as network, runBinWithInput, simHost, tempXml, virsh } from './libvirt-sim.js';

/**
 * The hook with the XML libvirt really hands it once a domain is defined: no `<driver group=>` (libvirt drops
 * it on define), the mode in vfioctl's <metadata> element. The XML is made by `vfioctl metadata -` or
 * `virsh metadata --set`, then passed through real virsh (define, start, dumpxml) so that it is libvirt's own.
 */
// qemu-q35-iommu: IOMMU group 10 holds two e1000 NICs (0000:02:01.0, 0000:02:02.0) behind a PCIe-to-PCI bridge.
const NIC1 = '0000:02:01.0';
const NIC2 = '0000:02:02.0';
const A = { name: 'vm-a', uuid: 'aaaaaaaa-0000-4000-8000-000000000001' };

/** `vfioctl metadata -` of a file with group='auto' on one NIC of the bridge group, defined and started by libvirt. */
function definedAuto(): string {
  const moved = runBinWithInput(['metadata', '-'], domainXml({ ...A, hostdevs: [NIC1], group: 'auto' }));
  expect([moved.code, moved.stderr]).toEqual([0, '']);
  return liveDomainXml(moved.stdout, A.name);
}

/** The same domain without any mode, and `virsh metadata … --set ELEMENT` on it before the start. */
function withVirshMetadata(element: string): string {
  return liveDomainXml(domainXml({ ...A, hostdevs: [NIC1] }), A.name, `metadata ${A.name} ${VFIOCTL_NS} --key vfioctl --set '${element}'`);
}

describe('the qemu hook reads the group mode from the metadata libvirt keeps', () => {
  it("vfioctl metadata's output, defined in libvirt: prepare begin moves the whole group, release end gives it back", () => {
    const h = simHost('qemu-q35-iommu');
    const { qemu } = installed();
    const live = definedAuto();
    expect(live).not.toMatch(/group=/); // libvirt dropped the attribute: the metadata is all there is
    expect(live).toContain(`<vfioctl:groups xmlns:vfioctl="${VFIOCTL_NS}" default="auto"/>`);
    expect(callHook(qemu, [A.name, 'prepare', 'begin', '-'], live, h.root)).toMatchObject({ code: 0, stdout: '', stderr: '' });
    expectBridgeGroupOnVfio(h.root);
    expect(journalDevices(h.root)[NIC2]).toMatchObject({ driver: 'e1000', owner: { kind: 'domain', ...A } });
    expect(callHook(qemu, [A.name, 'release', 'end', '-'], live, h.root)).toMatchObject({ code: 0, stdout: '', stderr: '' });
    expectBridgeGroupGivenBack(h.root);
  });

  it('an entry for the device, written by virsh metadata --set, moves the whole group too', () => {
    const h = simHost('qemu-q35-iommu');
    const { qemu } = installed();
    const live = withVirshMetadata(`<groups><device address="${NIC1}" group="auto"/></groups>`);
    expect(callHook(qemu, [A.name, 'prepare', 'begin', '-'], live, h.root)).toMatchObject({ code: 0, stderr: '' });
    expect(drivers(h.root)[NIC2]).toBe('vfio-pci');
  });

  it('a metadata default of manual, with the group not viable: refused with one line, exit 7, nothing written', () => {
    const h = simHost('qemu-q35-iommu');
    const { qemu } = installed();
    const r = callHook(qemu, [A.name, 'prepare', 'begin', '-'], withVirshMetadata('<groups default="manual"/>'), h.root);
    expect(r.code).toBe(7);
    expect(r.stdout).toBe('');
    expect(r.stderr.split('\n')).toEqual([
      expect.stringMatching(/^vfioctl: Nothing was detached for domain 'vm-a', because: IOMMU group 10 would not be viable with group='manual': .*0000:02:02\.0 \(it is bound to the host driver e1000\)/),
      '',
    ]);
    expect(simulatedWrites(h.root)).toEqual([]);
    expect(journalDevices(h.root)).toEqual({});
  });
});


/** `vfioctl metadata -` of the network with `driver`, defined and started by libvirt, as its hook gets it: in <hookData>. */
function definedNetworkHookData(driver: string): string {
  const moved = runBinWithInput(['metadata', '-'], network(driver));
  expect([moved.code, moved.stderr]).toEqual([0, '']);
  const live = virsh(`net-define ${tempXml('net.xml', moved.stdout)}; net-start ${NET.name}; net-dumpxml ${NET.name}`);
  expect(live).not.toMatch(/group=/);
  return `<hookData>\n${live}</hookData>\n`;
}

describe('the network hook reads the pool group mode from the network metadata', () => {
  it("group='auto' moved into the metadata: start begin detaches the pool's whole group, stopped end gives it back", () => {
    const h = simHost('qemu-q35-iommu');
    const { network: hook } = installed();
    const data = definedNetworkHookData("<driver name='vfio' group='auto'/>");
    expect(data).toContain(`default="auto"`);
    expect(callHook(hook, [NET.name, 'start', 'begin', '-'], data, h.root)).toMatchObject({ code: 0, stdout: '', stderr: '' });
    expectBridgeGroupOnVfio(h.root);
    expect(journalDevices(h.root)[NIC2].owner).toEqual({ kind: 'network', ...NET });
    expect(callHook(hook, [NET.name, 'stopped', 'end', '-'], data, h.root)).toMatchObject({ code: 0, stdout: '', stderr: '' });
    expectBridgeGroupGivenBack(h.root);
  });

  it('a metadata mode of manual is a mode asked for, as the attribute is: the pool is prepared, and refused when not viable', () => {
    const h = simHost('qemu-q35-iommu');
    const { network: hook } = installed();
    // Without any mode the pool is libvirt's business (network-hook.test.ts); with one, even manual, it is vfioctl's.
    const r = callHook(hook, [NET.name, 'start', 'begin', '-'], definedNetworkHookData("<driver name='vfio' group='manual'/>"), h.root);
    expect(r.code).toBe(7);
    expect(r.stderr).toMatch(/^vfioctl: Nothing was detached for network 'passthrough-pool', because: .*group='manual'.*0000:02:02\.0.*\n$/);
    expect(simulatedWrites(h.root)).toEqual([]);
  });
});
