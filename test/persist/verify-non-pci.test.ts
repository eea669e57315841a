import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadHostDescription } from '../../src/mock/hosts.js';
import type { HostDescription } from '../../src/mock/description.js';
import { json, runBin } from '../helpers/cli.js';
import { useSimulatedHosts } from '../helpers/sim-host.js';
import { domainXml, tempFile } from '../helpers/xml.js';

// modern-vfio: 0000:01:00.2 is a VF alone in IOMMU group 3; an I2C controller (a platform device) joins it here.
const VF = '0000:01:00.2';
const simHost = useSimulatedHosts();

function withI2c(driver: string | null, vfDriver: string): HostDescription {
  const desc = loadHostDescription('modern-vfio');
  desc.nonPciDevices = [{ name: 'AMDI0010:00', bus: 'platform', driver, iommuGroup: 3 }];
  for (const d of desc.devices) if (d.address === VF) d.driver = vfDriver;
  return desc;
}

describe('persist --verify and the non-PCI members of a persisted group', () => {
  it('a group whose non-PCI member came up bound to a host driver is not viable: exit 14 naming it', () => {
    const h = simHost(withI2c(null, 'mlx5_core'));
    const xml = tempFile('vf.xml', domainXml('vf', [{ address: VF, group: 'auto' }]));
    expect(runBin(['persist', xml, '--root', h.root]).code).toBe(0);
    expect(runBin(['detach', xml, '--root', h.root]).code).toBe(0);
    expect(runBin(['persist', '--verify', '--root', h.root])).toMatchObject({ code: 0, stderr: '' });
    // The next boot: the VF on vfio-pci as persisted, but the platform driver took the I2C controller.
    const booted = simHost(withI2c('i2c_designware', 'vfio-pci'));
    fs.cpSync(path.join(h.root, 'etc'), path.join(booted.root, 'etc'), { recursive: true, verbatimSymlinks: true });
    const r = runBin(['persist', '--verify', '--root', booted.root]);
    expect(r.code).toBe(14);
    expect(r.stderr).toContain(
      'vfioctl: IOMMU group 3 is not viable: AMDI0010:00 (a non-PCI platform device bound to i2c_designware, which vfioctl does not move) in the way. Unbind it at boot (echo AMDI0010:00 > /sys/bus/platform/drivers/i2c_designware/unbind), or persist devices of another group.\n',
    );
    const j = json(runBin(['persist', '--verify', '--json', '--root', booted.root]));
    expect(j).toMatchObject({ ok: false, exitCode: 14, devices: [{ address: VF, state: 'held', driver: 'vfio-pci' }], groups: [{ group: 3, viable: false, inTheWay: ['AMDI0010:00'] }] });
  });
});
