import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { json, runBin } from '../helpers/cli.js';
import { makeSimulatedHost } from '../helpers/sim-host.js';

/** A pci.ids of the host being described, with names no other pci.ids has, so the test sees where names come from. */
const HOST_IDS = '# test\n10de  Snapshot Vendor GmbH\n\t2204  Snapshot GPU 3090\n\t1aef  Snapshot HDA\n8086  Intel of the snapshot\n';

describe('a snapshot records the names of its host (through bin/)', () => {
  let host: { root: string; cleanup: () => void };
  let dir: string;
  let snap: string;
  beforeAll(() => {
    host = makeSimulatedHost('workstation');
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vfioctl-names-'));
    fs.writeFileSync(path.join(dir, 'pci.ids'), HOST_IDS);
    snap = path.join(dir, 'hv01.json');
    const r = runBin(['snapshot', '--root', host.root, '-o', snap], { VFIOCTL_PCI_IDS: path.join(dir, 'pci.ids') });
    expect(r.code).toBe(0);
  });
  afterAll(() => {
    host.cleanup();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('each device carries vendorName and deviceName where the host pci.ids knew them', () => {
    const gpu = JSON.parse(fs.readFileSync(snap, 'utf8')).devices.find((d: any) => d.address === '0000:01:00.0');
    expect(gpu).toMatchObject({ vendorName: 'Snapshot Vendor GmbH', deviceName: 'Snapshot GPU 3090' });
  });

  it('group-info and list --root hv01.json show those names where it is read, whatever pci.ids that machine has', () => {
    const env = { VFIOCTL_PCI_IDS: undefined }; // the reader's own lookup, as on a CI runner
    const r = runBin(['group-info', '01:00.0', '--root', snap], env);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('0000:01:00.0  VGA compatible controller [0300]: Snapshot Vendor GmbH Snapshot GPU 3090 [10de:2204]');
    const listed = json(runBin(['list', '--json', '--root', snap], env)).groups.flatMap((g: any) => g.devices);
    expect(listed.find((d: any) => d.address === '0000:01:00.1')).toMatchObject({ vendorName: 'Snapshot Vendor GmbH', deviceName: 'Snapshot HDA' });
    // A vendor the host's pci.ids knew without this device: the vendor's name only, as lspci would show it there.
    expect(listed.find((d: any) => d.address === '0000:00:01.0')).toMatchObject({ vendorName: 'Intel of the snapshot', deviceName: null });
  });

  it('check --root hv01.json names each member of the group too, as list does (a CI runner without pciutils)', () => {
    const xml = path.join(dir, 'vm.xml');
    fs.writeFileSync(
      xml,
      `<domain type='kvm'><name>vm</name><devices><hostdev mode='subsystem' type='pci' managed='yes'><driver name='vfio' group='auto'/><source><address domain='0x0000' bus='0x01' slot='0x00' function='0x0'/></source></hostdev></devices></domain>\n`,
    );
    const r = runBin(['check', xml, '--root', snap], { VFIOCTL_PCI_IDS: undefined });
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/move +0000:01:00\.0  Snapshot Vendor GmbH Snapshot GPU 3090  nouveau → vfio-pci/);
    expect(r.stdout).toMatch(/move +0000:01:00\.1  Snapshot Vendor GmbH Snapshot HDA  snd_hda_intel → vfio-pci/);
    const members = json(runBin(['check', xml, '--json', '--root', snap], { VFIOCTL_PCI_IDS: undefined })).groups[0].members;
    expect(members.find((m: any) => m.address === '0000:01:00.0')).toMatchObject({ vendorName: 'Snapshot Vendor GmbH', deviceName: 'Snapshot GPU 3090' });
  });

  it('a name that would break the description (a newline) is refused when the snapshot is read, with the field named', () => {
    const desc = JSON.parse(fs.readFileSync(snap, 'utf8'));
    desc.devices[0].deviceName = 'two\nlines';
    const bad = path.join(dir, 'bad.json');
    fs.writeFileSync(bad, JSON.stringify(desc));
    const r = runBin(['list', '--root', bad]);
    expect(r.code).toBe(3);
    expect(r.stderr).toContain(`device ${desc.devices[0].address}: deviceName`);
  });
});
