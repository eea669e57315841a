import { describe, expect, it } from 'vitest';
import { simulatedWrites } from '../helpers/sim-host.js';
import { callHook, domainXml, expectBridgeGroupGivenBack, expectBridgeGroupOnVfio, installed, journalDevices, POOL_NET as NET, poolNetworkXml, simHost } from './libvirt-sim.js';

// qemu-q35-iommu: IOMMU group 10 holds two e1000 NICs (0000:02:01.0, 0000:02:02.0) behind a PCIe-to-PCI bridge.
const NIC1 = '0000:02:01.0';
const NIC2 = '0000:02:02.0';
/** What libvirt gives the network hook on stdin (docs/hooks.rst of libvirt: <hookData><network>…). */
function hookData(driver: string): string {
  return `<hookData>\n${poolNetworkXml(driver)}</hookData>\n`;
}

describe('the network hook, run by sh as libvirt runs it', () => {
  it("start begin detaches a hostdev pool with group='auto' whole; stopped end gives it back", () => {
    const h = simHost('qemu-q35-iommu');
    const { network } = installed();
    const data = hookData("<driver name='vfio' group='auto'/>");
    expect(callHook(network, [NET.name, 'start', 'begin', '-'], data, h.root)).toMatchObject({ code: 0, stdout: '', stderr: '' });
    expectBridgeGroupOnVfio(h.root);
    expect(journalDevices(h.root)[NIC2].owner).toEqual({ kind: 'network', ...NET });
    for (const op of [['started', 'begin'], ['port-created', 'begin'], ['updated', 'begin'], ['port-deleted', 'begin']]) {
      expect(callHook(network, [NET.name, op[0]!, op[1]!, '-'], data, h.root)).toMatchObject({ code: 0, stdout: '', stderr: '' });
    }
    // A domain given one of the pool's devices is not refused: a network holds its pool for its domains.
    const guest = domainXml({ name: 'guest', uuid: '12345678-0000-4000-8000-000000000009', hostdevs: [NIC1], group: 'auto' });
    expect(callHook(network.replace('network.d', 'qemu.d'), ['guest', 'prepare', 'begin', '-'], guest, h.root)).toMatchObject({ code: 0, stderr: '' });
    expect(callHook(network, [NET.name, 'stopped', 'end', '-'], data, h.root)).toMatchObject({ code: 0, stdout: '', stderr: '' });
    expectBridgeGroupGivenBack(h.root);
  });

  it('a pool without a group mode is left to libvirt: no write at start or stop', () => {
    const h = simHost('qemu-q35-iommu');
    const { network } = installed();
    const data = hookData("<driver name='vfio'/>");
    expect(callHook(network, [NET.name, 'start', 'begin', '-'], data, h.root)).toMatchObject({ code: 0, stdout: '', stderr: '' });
    expect(callHook(network, [NET.name, 'stopped', 'end', '-'], data, h.root)).toMatchObject({ code: 0, stdout: '', stderr: '' });
    expect(simulatedWrites(h.root)).toEqual([]);
  });

  it("a pool with group='manual' that would not be viable stops the network's start with one line", () => {
    const h = simHost('qemu-q35-iommu');
    const { network } = installed();
    const r = callHook(network, [NET.name, 'start', 'begin', '-'], hookData("<driver name='vfio' group='manual'/>"), h.root);
    expect(r.code).toBe(7);
    expect(r.stderr).toMatch(/^vfioctl: Nothing was detached for network 'passthrough-pool', because: .*0000:02:02\.0.*\n$/);
    expect(simulatedWrites(h.root)).toEqual([]);
  });
});
