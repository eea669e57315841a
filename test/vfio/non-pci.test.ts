import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadHostDescription } from '../../src/mock/hosts.js';
import { materializeHost } from '../../src/mock/materialize.js';
import type { HostDescription } from '../../src/mock/description.js';
import { json, listedGroups, runBin } from '../helpers/cli.js';
import { simulatedWrites, useSimulatedHosts } from '../helpers/sim-host.js';
import { domainXml, tempFile } from '../helpers/xml.js';

const host = useSimulatedHosts();
const USB = '0000:04:00.0'; // group 6, with its root port 0000:00:08.1
const VF = '0000:01:00.2'; // group 3, alone

/** modern-vfio with a TPM bound to tpm_crb beside the USB controller, an unbound I2C controller beside a VF, and an ARM-style PCIe controller alone in its group. */
function withPlatformDevices(): HostDescription {
  const desc = loadHostDescription('modern-vfio');
  desc.nonPciDevices = [
    { name: 'MSFT0101:00', bus: 'platform', driver: 'tpm_crb', iommuGroup: 6 },
    { name: 'AMDI0010:00', bus: 'platform', driver: null, iommuGroup: 3 },
    { name: 'fd500000.pcie', bus: 'platform', driver: 'brcm-pcie', iommuGroup: 9 },
    { name: '80860F0E:00', bus: 'platform', driver: 'dw_dmac', iommuGroup: null },
  ];
  return desc;
}

describe('non-PCI members of IOMMU groups', () => {
  it('list shows them with bus and driver; one bound to a host driver makes its group not viable, an unbound one does not', () => {
    const h = host(withPlatformDevices());
    const groups = Object.fromEntries(listedGroups(h.root).map((g: any) => [g.group, g]));
    expect(groups[6].nonPci).toEqual([{ name: 'MSFT0101:00', bus: 'platform', driver: 'tpm_crb' }]);
    expect(groups[6].viable).toBe(false);
    expect(groups[6].blockers).toContainEqual({ address: 'MSFT0101:00', driver: 'tpm_crb', reason: 'a non-PCI platform device bound to tpm_crb, which vfioctl does not move' });
    expect(groups[6].autoWouldSucceed).toBe(false);
    expect(groups[6].autoBlockers[0]).toMatch(/^group='auto' cannot make IOMMU group 6 viable: it also holds non-PCI devices, which vfioctl does not move: MSFT0101:00 /);
    expect(groups[3].nonPci).toEqual([{ name: 'AMDI0010:00', bus: 'platform', driver: null }]);
    expect(groups[3].autoWouldSucceed).toBe(true);
    // A group of non-PCI devices alone is listed in its place, with nothing to assign.
    expect(Object.keys(groups).map(Number)).toEqual([0, 1, 2, 3, 4, 5, 6, 9]);
    expect(groups[9].devices).toEqual([]);
    expect(groups[9].autoBlockers).toEqual(['IOMMU group 9 has no device to assign: fd500000.pcie is a non-PCI platform device (vfioctl moves only PCI functions).']);
    const text = runBin(['list', '--root', h.root]).stdout;
    expect(text).toContain('  MSFT0101:00  non-PCI platform device  driver: tpm_crb  (vfioctl does not move it)\n');
    expect(text).toContain('  AMDI0010:00  non-PCI platform device  driver: no driver  (vfioctl does not move it)\n');
  });

  it('group-info reads them from the group itself and agrees with list', () => {
    const h = host(withPlatformDevices());
    const info = json(runBin(['group-info', USB, '--json', '--root', h.root]));
    const listed = listedGroups(h.root).find((g: any) => g.group === 6);
    expect(info).toEqual(listed);
    const text = runBin(['group-info', USB, '--root', h.root]).stdout;
    expect(text).toContain('not viable for VFIO');
    expect(text).toContain('; MSFT0101:00 (a non-PCI platform device bound to tpm_crb, which vfioctl does not move)');
  });

  it("check and detach with group='auto' refuse (exit 7) before any write, naming the device and how to unbind it", () => {
    const h = host(withPlatformDevices());
    const xml = tempFile('usb.xml', domainXml('u', [{ address: USB, group: 'auto' }]));
    const check = runBin(['check', xml, '--json', '--root', h.root]);
    expect(check.code).toBe(7);
    const a = json(check);
    expect(a.groups[0].nonPci).toEqual([{ name: 'MSFT0101:00', bus: 'platform', driver: 'tpm_crb' }]);
    expect(a.groups[0].viableAfter).toBe(false);
    expect(a.blockers.map((b: any) => b.message)).toEqual([
      "group='auto' cannot make IOMMU group 6 viable: it also holds non-PCI devices, which vfioctl does not move: MSFT0101:00 (a non-PCI platform device bound to tpm_crb, which vfioctl does not move). The kernel counts the group viable only when they are unbound or on a vfio driver (vfio-platform); unbind them yourself if the host can spare them (echo MSFT0101:00 > /sys/bus/platform/drivers/tpm_crb/unbind), or assign devices of another group.",
    ]);
    expect(runBin(['check', xml, '--root', h.root]).stdout).toContain('    stays   MSFT0101:00  tpm_crb  [non-PCI platform device]\n');
    const detach = runBin(['detach', xml, '--root', h.root]);
    expect(detach.code).toBe(7);
    expect(detach.stderr).toContain('MSFT0101:00');
    expect(simulatedWrites(h.root)).toEqual([]);
  });

  it('an unbound non-PCI member does not keep a group from being detached', () => {
    const h = host(withPlatformDevices());
    const xml = tempFile('vf.xml', domainXml('v', [{ address: VF, group: 'auto' }]));
    expect(json(runBin(['check', xml, '--json', '--root', h.root])).exitCode).toBe(0);
    expect(runBin(['detach', xml, '--root', h.root]).code).toBe(0);
    expect(json(runBin(['group-info', VF, '--json', '--root', h.root])).viable).toBe(true);
  });

  it('a group entry that is neither a PCI address nor a link to a device is a damaged tree (exit 12)', () => {
    const h = host(withPlatformDevices());
    fs.writeFileSync(path.join(h.root, 'sys/kernel/iommu_groups/6/devices/evil'), '');
    const r = runBin(['group-info', USB, '--root', h.root]);
    expect(r.stderr).toContain("sys/kernel/iommu_groups/6/devices holds 'evil', which is not a PCI address nor a link to a device in sys/devices.");
  });

  it('the description refuses a non-PCI device named like a PCI address, or on an unknown bus', () => {
    const bad = withPlatformDevices();
    bad.nonPciDevices![0]!.name = '0000:09:00.0';
    expect(() => materializeHost(bad, path.join(fs.mkdtempSync('/tmp/np-'), 'h'))).toThrow(/is a PCI address: list it in devices/);
    const bus = withPlatformDevices();
    (bus.nonPciDevices![0] as { bus: string }).bus = 'usb';
    expect(() => materializeHost(bus, path.join(fs.mkdtempSync('/tmp/np-'), 'h'))).toThrow(/bus must be one of platform, amba/);
  });
});
