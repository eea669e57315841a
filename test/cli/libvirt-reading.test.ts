import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { json, runBin } from '../helpers/cli.js';
import { makeSimulatedHost } from '../helpers/sim-host.js';

/** A domain with one <hostdev> per address text, the first on line 4, each five lines long (its <address> on line 6, 11, …). */
function domainWith(...addresses: string[]): string {
  const hostdevs = addresses.map(
    (a) => `    <hostdev mode='subsystem' type='pci' managed='yes'>
      <driver name='vfio' group='auto'/>
      <source><address ${a}/></source>
    </hostdev>
`,
  );
  return `<domain type='kvm'>\n  <name>vm</name>\n  <devices>\n${hostdevs.join('')}  </devices>\n</domain>\n`;
}

describe('addresses read as libvirt reads them, duplicates refused from the XML alone (through bin/, workstation)', () => {
  let host: { root: string; cleanup: () => void };
  let dir: string;
  const write = (name: string, text: string): string => {
    const file = path.join(dir, name);
    fs.writeFileSync(file, text);
    return file;
  };
  beforeAll(() => {
    host = makeSimulatedHost('workstation');
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vfioctl-reading-'));
  });
  afterAll(() => {
    host.cleanup();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it("zero-padded decimal (bus='01' slot='00'), which libvirt's strtoul accepts, names the GPU: check passes", () => {
    const file = write('padded.xml', domainWith("domain='0000' bus='01' slot='00' function='0'"));
    const r = runBin(['check', file, '--json', '--root', host.root]);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(json(r).assignments[0].devices).toEqual(['0000:01:00.0']);
  });

  it("leading white space and a plus sign are read as libvirt reads them (' +1' is 1)", () => {
    const file = write('spaced.xml', domainWith("bus=' +1' slot='&#9;0x0' function='0'"));
    const r = runBin(['check', file, '--json', '--root', host.root]);
    expect(r.code).toBe(0);
    expect(json(r).assignments[0].devices).toEqual(['0000:01:00.0']);
  });

  it("a leading 0 is octal, as in libvirt: bus='010' names bus 8, and check's notes say so", () => {
    const file = write('octal.xml', domainWith("bus='010' slot='0' function='0'"));
    const r = runBin(['check', file, '--json', '--root', host.root]);
    expect(r.code).toBe(4); // there is no bus 8 on this host
    const out = json(r);
    expect(out.notes).toContain(
      `${file}:6: <address>: a leading 0 makes libvirt read a number as octal: bus='010' is 8 (0x8), not 10. vfioctl names the device libvirt would, 0000:08:00.0; write hex (0x..) if you meant another.`,
    );
    expect(out.blockers.map((b: { message: string }) => b.message)).toContain(`<hostdev> at ${file}:4: no PCI device 0000:08:00.0 on this host.`);
  });

  it('text libvirt refuses is still refused: a minus sign, a trailing space, 08', () => {
    for (const bus of ['-1', '0x01 ', '08']) {
      const r = runBin(['check', write('bad.xml', domainWith(`bus='${bus}' slot='0' function='0'`)), '--root', host.root]);
      expect(r.code).toBe(3);
      expect(r.stderr).toContain(`invalid PCI address bus='${bus}'`);
    }
  });

  it.each([
    ['a device this host has', "bus='0x01' slot='0x00' function='0x0'", "bus='1' slot='0' function='0'", '0000:01:00.0'],
    ['a device this host does not have', "bus='0x70' slot='0x00' function='0x0'", "bus='0160' slot='00' function='0'", '0000:70:00.0'],
  ])('the same device twice is exit 3 at the second element, naming both, whether or not it exists: %s', (_l, first, second, shown) => {
    const file = write('twice.xml', domainWith(first, second));
    for (const command of [['check'], ['detach', '--dry-run']]) {
      const r = runBin([...command, file, '--root', host.root]);
      expect(r.code).toBe(3);
      expect(r.stderr).toContain(`vfioctl: ${file}:8: <hostdev>: ${shown} is assigned a second time; the first <hostdev> at ${file}:4 names it already.`);
    }
  });
});
