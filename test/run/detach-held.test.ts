import { describe, expect, it, vi } from 'vitest';
import { LockedError } from '../../src/errors.js';
import { holdVfioNode } from '../../src/mock/kernel/vfio-users.js';
import { dryRunDetach, runDetach } from '../../src/run/detach.js';
import { Host } from '../../src/host/host.js';
import { parseLibvirtXml } from '../../src/xml/index.js';
import { runBin } from '../helpers/cli.js';
import { simulatedWrites, useSimulatedHosts } from '../helpers/sim-host.js';
import { tempFile } from '../helpers/xml.js';
import { driverOf, session } from './workstation.js';

// A detach that would unbind a device from a vfio driver, in a group a VM holds, must be refused before any write
// (src/run/in-use.ts), as reattach is. The planner on this branch never plans such an unbind: a member on any vfio
// driver is 'already' (src/plan/member-action.ts), even when its <driver model=> names another. This file makes
// it plan one, as libvirt does for a differing model (a device on mlx5_vfio_pci, model='vfio-pci': unbind, then
// bind vfio-pci), to check that the run itself refuses it; without this refusal the unbind would hang on Linux.
vi.mock('../../src/plan/member-action.js', async (importOriginal) => {
  const real = await importOriginal<typeof import('../../src/plan/member-action.js')>();
  return { ...real, memberAction: (...args: Parameters<typeof real.memberAction>) => (real.memberAction(...args) === 'already' ? 'move' : real.memberAction(...args)) };
});

const simulatedHost = useSimulatedHosts();
// modern-vfio: a ConnectX-6 Dx VF (IOMMU group 3) that mlx5_vfio_pci takes when no model is named.
const VF = '0000:01:00.2';
const QEMU = { pid: 4242, comm: 'qemu-system-x86' };
const nfv = (model: string): string => `<domain type='kvm'>
  <name>nfv</name>
  <devices>
    <hostdev mode='subsystem' type='pci' managed='yes'>
      <driver name='vfio'${model}/>
      <source><address domain='0x0000' bus='0x01' slot='0x00' function='0x2'/></source>
    </hostdev>
  </devices>
</domain>
`;

/** modern-vfio with the VF detached to mlx5_vfio_pci by bin/vfioctl (not mocked), and a VM holding `node`. */
function heldOnVariant(node: string): string {
  const { root } = simulatedHost('modern-vfio');
  const r = runBin(['detach', tempFile('nfv.xml', nfv('')), '--root', root]);
  expect(r.code, r.stderr).toBe(0);
  expect(driverOf(root, VF)).toBe('mlx5_vfio_pci');
  holdVfioNode(root, node, QEMU);
  return root;
}

describe('detach moving a device between vfio drivers, in a group a VM holds: exit 12, zero writes', () => {
  it.each([
    ['/dev/vfio/3', `  - ${VF} (IOMMU group 3): /dev/vfio/3 is held open by qemu-system-x86 (pid 4242).`],
    ['/dev/vfio/devices/vfio0', `  - ${VF} (IOMMU group 3): /dev/vfio/devices/vfio0 is held open by qemu-system-x86 (pid 4242).`],
  ])('held through %s: refused naming the group, the device and the holder', (node, held) => {
    const root = heldOnVariant(node);
    const writes = simulatedWrites(root).length;
    const doc = parseLibvirtXml(nfv(" model='vfio-pci'"), 'nfv.xml');
    let err: unknown;
    try {
      runDetach(doc, session(root), false, 'detach nfv.xml');
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(LockedError);
    expect((err as LockedError).exitCode).toBe(12);
    expect((err as Error).message).toBe(
      `Nothing was detached for nfv.xml: a process still uses these devices through VFIO (most likely a running VM), and unbinding them from their vfio driver would block until it lets go:\n${held}`,
    );
    expect((err as LockedError).hint).toBe('Stop the process holding the node first (a VM: `virsh destroy NAME`, or end it), then run this again. --force does not override this.');
    expect(simulatedWrites(root).length).toBe(writes);
    expect(driverOf(root, VF)).toBe('mlx5_vfio_pci');
  });

  it('--dry-run opens nothing and says the detach would be refused', () => {
    const root = heldOnVariant('/dev/vfio/3');
    const result = dryRunDetach(parseLibvirtXml(nfv(" model='vfio-pci'"), 'nfv.xml'), new Host(root), false);
    expect(result.writes.map((w) => w.path)).toContain('/sys/bus/pci/drivers/mlx5_vfio_pci/unbind');
    expect(result.notes).toContain(`In use: ${VF} (IOMMU group 3): /dev/vfio/3 is held open by qemu-system-x86 (pid 4242). The detach itself would be refused (exit 12) until it lets go.`);
  });
});
