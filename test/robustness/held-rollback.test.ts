import { describe, expect, it } from 'vitest';
import { injectFault } from '../../src/mock/kernel/sim-state.js';
import { releaseVfioNode } from '../../src/mock/kernel/vfio-users.js';
import { runBin } from '../helpers/cli.js';
import { simulatedWrites, useSimulatedHosts } from '../helpers/sim-host.js';
import { domainXml, tempFile } from '../helpers/xml.js';
import { drivers, journalDevices } from '../libvirt/libvirt-sim.js';

/**
 * The rollback of a failed detach unbinds from vfio-pci the devices the detach had bound to it. A process that
 * opened their group in between (a VM started by hand in that window) would make that unbind block in the kernel
 * (docs/sysfs-semantics.md, "A group in use"): the rollback leaves that group as it is, says who holds it, and
 * leaves the journal for `reattach --all`.
 */
const simulatedHost = useSimulatedHosts();

// The bundled workstation: the GPU (nouveau) and its audio function (snd_hda_intel), IOMMU group 1. The detach
// writes: 1-2 both driver_overrides, 3 the audio's unbind, 4 the GPU's, 5 the GPU's drivers_probe (onto
// vfio-pci: /dev/vfio/1 appears), 6 the audio's drivers_probe.
const GPU = '0000:01:00.0';
const AUDIO = '0000:01:00.1';
const QEMU = { pid: 4242, comm: 'qemu-system-x86' };
const line = (w: { path: string; value: string; result: string }): string => `${w.path} <- ${JSON.stringify(w.value)}: ${w.result}`;

describe('a group opened by a VM between the first bind and the failure: the rollback does not hang on it', () => {
  it('exit 11 naming the group and its holder; no write after the failed one; both devices stay journaled; reattach --all finishes once it lets go', () => {
    const { root } = simulatedHost('workstation');
    const xml = tempFile('vm.xml', domainXml('vm', [{ address: GPU, group: 'auto' }]));
    injectFault(root, { kind: 'hold', position: 5, node: '/dev/vfio/1', ...QEMU, times: 'once' });
    injectFault(root, { kind: 'fail', errno: 'EIO', position: 6, times: 'once' });
    const started = Date.now();
    const r = runBin(['detach', xml, '--root', root]);
    expect(Date.now() - started).toBeLessThan(10_000);
    expect(r.code, r.stderr).toBe(11);
    expect(r.stderr).toContain(
      `vfioctl: Detach failed at step 6 of 6: Failed to write '${AUDIO}' to '/sys/bus/pci/drivers_probe': EIO (input/output error)\n` +
        'The rollback could not restore everything:\n' +
        `  - ${GPU}, ${AUDIO} (IOMMU group 1): /dev/vfio/1 is held open by qemu-system-x86 (pid 4242). The rollback left them as they are: unbinding from the vfio driver would block until it lets go.`,
    );
    expect(r.stderr).toContain('still records them; run `vfioctl reattach --all` once the process holding the group lets go (a VM: `virsh destroy NAME`).');
    // The failed probe was the last write: no override cleared, no unbind of the GPU, no bind of the audio function.
    const log = simulatedWrites(root);
    expect(log.length).toBe(6);
    expect(line(log[5]!)).toBe(`/sys/bus/pci/drivers_probe <- "${AUDIO}": EIO`);
    const now = drivers(root);
    expect([now[GPU], now[AUDIO]]).toEqual(['vfio-pci', null]);
    expect(Object.keys(journalDevices(root)).sort()).toEqual([GPU, AUDIO]);

    // While the VM runs, reattach --all is refused (exit 12) rather than hanging; once it ends, everything goes home.
    expect(runBin(['reattach', '--all', '--root', root]).code).toBe(12);
    releaseVfioNode(root, '/dev/vfio/1');
    const back = runBin(['reattach', '--all', '--root', root]);
    expect(back.code, back.stderr).toBe(0);
    const after = drivers(root);
    expect([after[GPU], after[AUDIO]]).toEqual(['nouveau', 'snd_hda_intel']);
    expect(journalDevices(root)).toEqual({});
  });

  it('the same failure with the group free rolls back as before: exit 10, both devices home, journal empty', () => {
    const { root } = simulatedHost('workstation');
    const xml = tempFile('vm.xml', domainXml('vm', [{ address: GPU, group: 'auto' }]));
    injectFault(root, { kind: 'fail', errno: 'EIO', position: 6, times: 'once' });
    const r = runBin(['detach', xml, '--root', root]);
    expect(r.code).toBe(10);
    expect(r.stderr).toContain(`Rolled back: ${GPU}, ${AUDIO} are back on their original drivers.`);
    const now = drivers(root);
    expect([now[GPU], now[AUDIO]]).toEqual(['nouveau', 'snd_hda_intel']);
    expect(journalDevices(root)).toEqual({});
  });
});
