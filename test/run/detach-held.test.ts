import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { holdVfioNode, releaseVfioNode } from '../../src/mock/kernel/vfio-users.js';
import { json, runBin } from '../helpers/cli.js';
import { simulatedWrites, useSimulatedHosts } from '../helpers/sim-host.js';
import { tempFile } from '../helpers/xml.js';
import { driverOf } from './workstation.js';

// A detach that unbinds a device from a vfio driver, in a group a VM holds, must be refused before any write
// (src/run/in-use.ts), as reattach is: on Linux that unbind would block until the VM lets go. The planner makes
// such a move when a device's <driver model=> names another vfio driver than the one it is on (a device on
// mlx5_vfio_pci, model='vfio-pci': unbind, then bind vfio-pci), as libvirt does.

const simulatedHost = useSimulatedHosts();
// modern-vfio: a ConnectX-6 Dx VF (IOMMU group 3) that mlx5_vfio_pci takes when no model is named.
const VF = '0000:01:00.2';
const QEMU = { pid: 4242, comm: 'qemu-system-x86' };
const nfv = (model: string): string =>
  tempFile(
    'nfv.xml',
    `<domain type='kvm'>
  <name>nfv</name>
  <devices>
    <hostdev mode='subsystem' type='pci' managed='yes'>
      <driver name='vfio'${model}/>
      <source><address domain='0x0000' bus='0x01' slot='0x00' function='0x2'/></source>
    </hostdev>
  </devices>
</domain>
`,
  );
const journalText = (root: string): string => fs.readFileSync(path.join(root, 'run/vfioctl/journal.json'), 'utf8');

/** modern-vfio with the VF detached to mlx5_vfio_pci by bin/vfioctl, and a VM holding `node`. */
function heldOnVariant(node: string): string {
  const { root } = simulatedHost('modern-vfio');
  const r = runBin(['detach', nfv(''), '--root', root]);
  expect(r.code, r.stderr).toBe(0);
  expect(driverOf(root, VF)).toBe('mlx5_vfio_pci');
  holdVfioNode(root, node, QEMU);
  return root;
}

describe('detach moving a device between vfio drivers, in a group a VM holds: exit 12, zero writes', () => {
  it.each([
    ['/dev/vfio/3', `  - ${VF} (IOMMU group 3): /dev/vfio/3 is held open by qemu-system-x86 (pid 4242).`],
    ['/dev/vfio/devices/vfio0', `  - ${VF} (IOMMU group 3): /dev/vfio/devices/vfio0 is held open by qemu-system-x86 (pid 4242).`],
  ])('held through %s: refused naming the group, the device and the holder, --force or not', (node, held) => {
    const root = heldOnVariant(node);
    const writes = simulatedWrites(root).length;
    const journal = journalText(root);
    const xml = nfv(" model='vfio-pci'");
    for (const extra of [[], ['--force']]) {
      const started = Date.now();
      const r = runBin(['detach', xml, ...extra, '--root', root]);
      expect(Date.now() - started).toBeLessThan(10_000);
      expect(r.code, r.stderr).toBe(12);
      expect(r.stderr).toContain(
        `vfioctl: Nothing was detached for ${xml}: a process still uses these devices through VFIO (most likely a running VM), and unbinding them from their vfio driver would block until it lets go:\n${held}`,
      );
      expect(r.stderr).toContain('Stop the process holding the node first (a VM: `virsh destroy NAME`, or end it), then run this again. --force does not override this.');
    }
    expect(simulatedWrites(root).length).toBe(writes);
    expect(journalText(root)).toBe(journal);
    expect(driverOf(root, VF)).toBe('mlx5_vfio_pci');
    releaseVfioNode(root, node);
    expect(runBin(['detach', xml, '--root', root]).code).toBe(0);
    expect(driverOf(root, VF)).toBe('vfio-pci');
  });

  it('--dry-run opens nothing, says the detach would be refused, and exits 12 as the run would', () => {
    const root = heldOnVariant('/dev/vfio/3');
    const writes = simulatedWrites(root).length;
    const r = runBin(['detach', nfv(" model='vfio-pci'"), '--dry-run', '--json', '--root', root]);
    // The dry run answers with the exit code the run would have, as reattach's dry run and a refused plan do.
    expect(r.code).toBe(12);
    const dry = json(r);
    expect(dry.exitCode).toBe(12);
    expect(dry.writes.map((w: any) => w.path)).toContain('/sys/bus/pci/drivers/mlx5_vfio_pci/unbind');
    expect(dry.notes).toContain(`In use: ${VF} (IOMMU group 3): /dev/vfio/3 is held open by qemu-system-x86 (pid 4242). The detach itself would be refused (exit 12) until it lets go.`);
    expect(simulatedWrites(root).length).toBe(writes);
  });

  it('a held group whose devices need no unbind from a vfio driver (no model: the VF stays on mlx5_vfio_pci) is no reason to refuse', () => {
    const root = heldOnVariant('/dev/vfio/3');
    const r = runBin(['detach', nfv(''), '--root', root]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain('Nothing to do: every device is already on a vfio driver (mlx5_vfio_pci).');
  });
});
