import fs from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { json, runBin } from '../helpers/cli.js';
import { makeSimulatedHost, simulatedWrites } from '../helpers/sim-host.js';
import { tinyHost } from '../helpers/tiny-host.js';
import { domainXml, tempFile } from '../helpers/xml.js';

/** A VM host's root filesystem over 9p (as in the real-kernel tests): its virtio device is refused as in use. */
describe('a virtio device serving a mounted 9p filesystem', () => {
  const desc = tinyHost();
  desc.drivers.push({ name: 'virtio-pci', module: 'virtio_pci', state: 'loaded', ids: [{ vendor: '1af4', device: '*' }] });
  desc.devices.push({ address: '0000:00:02.0', parent: null, vendor: '1af4', device: '1009', subsystemVendor: '1af4', subsystemDevice: '0009', class: '000200', headerType: 0, driver: 'virtio-pci', driverOverride: null, iommuGroup: 9 });
  const h = makeSimulatedHost(desc);
  afterAll(() => h.cleanup());
  const dev = path.join(h.root, 'sys/devices/pci0000:00/0000:00:02.0/virtio0');
  fs.mkdirSync(dev, { recursive: true }); // the mock makes virtio0 for a device bound to virtio-pci
  fs.writeFileSync(path.join(dev, 'mount_tag'), 'hostroot\n');
  fs.appendFileSync(path.join(h.root, 'proc/mounts'), 'hostroot / 9p ro,relatime,trans=virtio,version=9p2000.L 0 0\n');

  it('is flagged as holding / and refused without --force, with no write', () => {
    const g = json(runBin(['group-info', '00:02.0', '--json', '--root', h.root]));
    expect(g.devices[0].hostNeeds).toEqual(['it holds 9p:hostroot, mounted at /']);
    const r = runBin(['detach', tempFile('x.xml', domainXml('x', [{ address: '0000:00:02.0', group: 'auto' }])), '--root', h.root]);
    expect(r.code).toBe(6);
    expect(r.stderr).toContain('0000:00:02.0: it holds 9p:hostroot, mounted at /');
    expect(simulatedWrites(h.root)).toEqual([]);
  });
});
