import { describe, expect, it } from 'vitest';
import { injectFault } from '../../src/mock/kernel/sim-state.js';
import { runBin } from '../helpers/cli.js';
import { simulatedWrites } from '../helpers/sim-host.js';
import { domainXml as userDomainXml, tempFile } from '../helpers/xml.js';
import { drivers, journalDevices, simHost } from '../libvirt/libvirt-sim.js';

// The bundled workstation: the GPU (nouveau) and its audio function (snd_hda_intel), IOMMU group 1.
const GPU = '0000:01:00.0';
const AUDIO = '0000:01:00.1';
const FAST = { VFIOCTL_VERIFY_TIMEOUT_MS: '50' };

/** The workstation with its GPU group detached by `vfioctl detach` (no owner); returns the root and the XML. */
function detachedWorkstation(): { root: string; xml: string } {
  const h = simHost('workstation');
  const xml = tempFile('gpu.xml', userDomainXml('gpu', [{ address: GPU, group: 'auto' }]));
  const r = runBin(['detach', xml, '--root', h.root]);
  expect(r.code, r.stderr).toBe(0);
  return { root: h.root, xml };
}

describe("reattach verifies its unbinds, as detach does", () => {
  it('a device vfio-pci takes again right after its unbind: stopped at that unbind, named; the rest goes back; exit 11', () => {
    const { root, xml } = detachedWorkstation();
    injectFault(root, { kind: 'reclaim', address: GPU, driver: 'vfio-pci', times: 'always' });
    const r = runBin(['reattach', xml, '--root', root], FAST);
    expect(r.code).toBe(11);
    expect(r.stderr).toContain(
      `After writing '${GPU}' to '/sys/bus/pci/drivers/vfio-pci/unbind', ${GPU} is bound to vfio-pci (vfio-pci took it again: something probed it), not unbound (waited 50 ms).`,
    );
    // The GPU was never offered to nouveau while vfio-pci held it: no bind of it was attempted.
    expect(simulatedWrites(root).filter((w) => w.path === '/sys/bus/pci/drivers/nouveau/bind')).toEqual([]);
    const now = drivers(root);
    expect([now[GPU], now[AUDIO]]).toEqual(['vfio-pci', 'snd_hda_intel']);
    expect(Object.keys(journalDevices(root))).toEqual([GPU]);
  });
});
