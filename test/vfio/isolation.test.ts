import { describe, expect, it } from 'vitest';
import { loadHostDescription } from '../../src/mock/hosts.js';
import type { HostDescription } from '../../src/mock/description.js';
import { json, runBin } from '../helpers/cli.js';
import { useSimulatedHosts } from '../helpers/sim-host.js';
import { domainXml, tempFile } from '../helpers/xml.js';

const host = useSimulatedHosts();
const VF = '0000:01:00.2'; // modern-vfio group 3, alone
const ACS = /^warning: the kernel runs with pcie_acs_override=downstream,multifunction \(the out-of-tree ACS override patch\): .* the groups shown do not isolate devices\.$/;

function modern(change: (d: HostDescription) => void): HostDescription {
  const desc = loadHostDescription('modern-vfio');
  change(desc);
  return desc;
}

describe('hosts whose IOMMU groups do not isolate devices', () => {
  it('pcie_acs_override= on the kernel command line: one warning line first in list, group-info and check; `warnings` in their JSON', () => {
    const h = host(modern((d) => void (d.kernel.cmdline = 'BOOT_IMAGE=/boot/vmlinuz ro quiet amd_iommu=on pcie_acs_override=downstream,multifunction')));
    const xml = tempFile('vf.xml', domainXml('v', [{ address: VF }]));
    for (const args of [['list'], ['group-info', VF], ['check', xml]]) {
      const first = runBin([...args, '--root', h.root]).stdout.split('\n')[0]!;
      expect(first).toMatch(ACS);
      const j = json(runBin([...args, '--json', '--root', h.root]));
      expect(j.warnings).toHaveLength(1);
      expect(`warning: ${j.warnings[0]}`).toMatch(ACS);
    }
    // The JSON of list is still whole (streamed): its groups follow the warnings.
    expect(json(runBin(['list', '--json', '--root', h.root])).groups).toHaveLength(7);
  });

  it('a host without either says nothing: no warning line, no `warnings` key', () => {
    const h = host('modern-vfio');
    expect(runBin(['list', '--root', h.root]).stdout.startsWith('IOMMU group 0')).toBe(true);
    expect(json(runBin(['group-info', VF, '--json', '--root', h.root]))).not.toHaveProperty('warnings');
    expect(json(runBin(['list', '--json', '--root', h.root]))).not.toHaveProperty('warnings');
    expect(json(runBin(['check', tempFile('vf.xml', domainXml('v', [{ address: VF }])), '--json', '--root', h.root]))).not.toHaveProperty('warnings');
  });

  it('enable_unsafe_noiommu_mode=Y: the warning counts the no-IOMMU groups, and their node is /dev/vfio/noiommu-N', () => {
    const h = host(
      modern((d) => {
        d.kernel.vfioNoiommu = true;
        d.kernel.noiommuGroups = [3, 4];
        for (const dev of d.devices) if (dev.address === VF) dev.driver = 'vfio-pci';
      }),
    );
    const list = json(runBin(['list', '--json', '--root', h.root]));
    expect(list.warnings).toEqual([
      "vfio runs with enable_unsafe_noiommu_mode=Y: a device without an IOMMU gets a no-IOMMU group, and 2 of the host's 7 groups are (3, 4: /dev/vfio/noiommu-N); nothing translates or confines their DMA, so they do not isolate anything: whoever opens one can reach all host memory (libvirt does not use them).",
    ]);
    const vf = list.groups.find((g: any) => g.group === 3).devices[0];
    expect(vf.vfio.group).toBe('/dev/vfio/noiommu-3');
    const check = json(runBin(['check', tempFile('vf.xml', domainXml('v', [{ address: VF }])), '--json', '--root', h.root]));
    expect(check.opens).toContain('/dev/vfio/noiommu-3');
  });

  it('the parameter at N is no warning', () => {
    const h = host(modern((d) => void (d.kernel.vfioNoiommu = false)));
    expect(json(runBin(['list', '--json', '--root', h.root]))).not.toHaveProperty('warnings');
  });
});
