import { describe, expect, it } from 'vitest';
import { moveGroupModesToMetadata, parseLibvirtXml, VFIOCTL_NS } from '../../src/xml/index.js';
import { inputErrorOf } from './documents.js';

/** `vfioctl metadata FILE`'s transformation: exact output text, and the modes it reads back. */
const NS = `xmlns:vfioctl="${VFIOCTL_NS}"`;
const move = (text: string): string => moveGroupModesToMetadata(text, 'vm.xml');
const modes = (text: string): [string, string][] => parseLibvirtXml(text, 'vm.xml').assignments.map((a) => [a.groupMode, a.groupModeSource]);

const dev = (slot: number, driver: string): string =>
  `    <hostdev mode='subsystem' type='pci' managed='yes'>\n      ${driver}\n      <source><address domain='0x0000' bus='0x02' slot='0x0${slot}' function='0x0'/></source>\n    </hostdev>\n`;

describe('vfioctl metadata: the attributes go, one vfioctl element comes', () => {
  it("every device with the same mode: one default, after <name> and <uuid>, indented as the file is; nothing else changes", () => {
    const text = `<?xml version="1.0"?>\n<!-- mine -->\n<domain type='kvm'>\n  <name>vm</name>\n  <uuid>8153231d-00da-4d28-9f1f-19e90c13b0ec</uuid>\n  <memory unit="GiB">4</memory>\n  <devices>\n${dev(1, "<driver name='vfio' group='auto'/>")}${dev(2, '<driver   group="auto"\n        name="vfio" />')}  </devices>\n</domain>\n`;
    const out = move(text);
    expect(out).toBe(
      `<?xml version="1.0"?>\n<!-- mine -->\n<domain type='kvm'>\n  <name>vm</name>\n  <uuid>8153231d-00da-4d28-9f1f-19e90c13b0ec</uuid>\n  <metadata>\n    <vfioctl:groups ${NS} default="auto"/>\n  </metadata>\n  <memory unit="GiB">4</memory>\n  <devices>\n${dev(1, "<driver name='vfio'/>")}${dev(2, '<driver\n        name="vfio" />')}  </devices>\n</domain>\n`,
    );
    expect(modes(out)).toEqual([
      ['auto', 'metadata-default'],
      ['auto', 'metadata-default'],
    ]);
  });

  it('different modes, or a device without one: an entry per device that had an attribute; a 4-space file stays 4-space', () => {
    const text = `<domain>\n    <name>vm</name>\n    <devices>\n${dev(1, "<driver name='vfio' group='auto'/>")}${dev(2, "<driver name='vfio' group='manual'/>")}${dev(3, "<driver name='vfio'/>")}    </devices>\n</domain>\n`;
    const out = move(text);
    expect(out.split('\n').slice(0, 8).join('\n')).toBe(
      `<domain>\n    <name>vm</name>\n    <metadata>\n        <vfioctl:groups ${NS}>\n            <vfioctl:device address="0000:02:01.0" group="auto"/>\n            <vfioctl:device address="0000:02:02.0" group="manual"/>\n        </vfioctl:groups>\n    </metadata>`,
    );
    expect(modes(out)).toEqual([
      ['auto', 'metadata-device'],
      ['manual', 'metadata-device'],
      ['manual', 'default'],
    ]);
  });

  it("an existing <metadata> is reused, other applications' elements and comments kept", () => {
    const text = `<domain>\n  <name>vm</name>\n  <metadata>\n    <app:x xmlns:app="https://example.org/app" a='1'/> <!-- keep -->\n  </metadata>\n  <devices>\n${dev(1, "<driver name='vfio' group='auto'/>")}  </devices>\n</domain>\n`;
    expect(move(text)).toBe(
      `<domain>\n  <name>vm</name>\n  <metadata>\n    <app:x xmlns:app="https://example.org/app" a='1'/> <!-- keep -->\n    <vfioctl:groups ${NS} default="auto"/>\n  </metadata>\n  <devices>\n${dev(1, "<driver name='vfio'/>")}  </devices>\n</domain>\n`,
    );
  });

  it('an empty <metadata/> is opened', () => {
    const text = `<domain>\n  <name>vm</name>\n  <metadata/>\n  <devices>\n${dev(1, "<driver name='vfio' group='manual'/>")}  </devices>\n</domain>\n`;
    expect(move(text)).toContain(`  <metadata>\n    <vfioctl:groups ${NS} default="manual"/>\n  </metadata>\n  <devices>`);
  });

  it("an existing vfioctl element is merged (its prefix kept): its default stays, the attribute's device gets an entry", () => {
    const text = `<domain>\n  <name>vm</name>\n  <metadata>\n    <v:groups xmlns:v="${VFIOCTL_NS}" default="auto"/>\n  </metadata>\n  <devices>\n${dev(1, "<driver name='vfio' group='manual'/>")}${dev(2, "<driver name='vfio'/>")}  </devices>\n</domain>\n`;
    const out = move(text);
    expect(out).toContain(`  <metadata>\n    <v:groups xmlns:v="${VFIOCTL_NS}" default="auto">\n      <v:device address="0000:02:01.0" group="manual"/>\n    </v:groups>\n  </metadata>\n`);
    expect(modes(out)).toEqual([
      ['manual', 'metadata-device'],
      ['auto', 'metadata-default'],
    ]);
  });

  it('a document on one line stays on one line; CRLF line ends stay CRLF', () => {
    const one = `<domain><name>vm</name><devices><hostdev mode='subsystem' type='pci'><driver name='vfio' group='auto'/><source><address bus='2' slot='1' function='0'/></source></hostdev></devices></domain>`;
    expect(move(one)).toBe(
      `<domain><name>vm</name><metadata><vfioctl:groups ${NS} default="auto"/></metadata><devices><hostdev mode='subsystem' type='pci'><driver name='vfio'/><source><address bus='2' slot='1' function='0'/></source></hostdev></devices></domain>`,
    );
    const crlf = `<domain>\r\n  <name>vm</name>\r\n  <devices>\r\n    <hostdev mode='subsystem' type='pci'><driver name='vfio' group='auto'/><source><address bus='2' slot='1' function='0'/></source></hostdev>\r\n  </devices>\r\n</domain>\r\n`;
    expect(move(crlf)).toBe(crlf.replace(" group='auto'", '').replace('</name>\r\n', `</name>\r\n  <metadata>\r\n    <vfioctl:groups ${NS} default="auto"/>\r\n  </metadata>\r\n`));
  });

  it('a network: the forward driver\'s group becomes the default for its pool', () => {
    const text = `<network>\n  <name>pool</name>\n  <forward mode='hostdev' managed='yes'>\n    <driver name='vfio' group='auto'/>\n    <pf dev='ens1f0'/>\n  </forward>\n</network>\n`;
    const out = move(text);
    expect(out).toBe(`<network>\n  <name>pool</name>\n  <metadata>\n    <vfioctl:groups ${NS} default="auto"/>\n  </metadata>\n  <forward mode='hostdev' managed='yes'>\n    <driver name='vfio'/>\n    <pf dev='ens1f0'/>\n  </forward>\n</network>\n`);
    expect(modes(out)).toEqual([['auto', 'metadata-default']]);
  });

  it('no group attribute (already moved, or none): the text comes back unchanged, byte for byte', () => {
    const text = `<domain>\n  <name>vm</name>\n  <metadata>\n    <vfioctl:groups ${NS}   default='auto' />\n  </metadata>\n  <devices>\n${dev(1, "<driver name='vfio'/>")}  </devices>\n</domain>\n`;
    expect(move(text)).toBe(text);
    expect(move(move(`<domain><name>vm</name><devices>${dev(1, "<driver name='vfio' group='auto'/>")}</devices></domain>`))).toContain('default="auto"');
  });

  it('a group attribute outside an assignment (a USB hostdev) is not the mode of anything and stays', () => {
    const usb = `<hostdev mode='subsystem' type='usb'><driver name='vfio' group='auto'/><source><vendor id='0x1'/><product id='0x2'/></source></hostdev>`;
    const text = `<domain>\n  <name>vm</name>\n  <devices>\n    ${usb}\n${dev(1, "<driver name='vfio' group='auto'/>")}  </devices>\n</domain>\n`;
    const out = move(text);
    expect(out).toContain(usb);
    expect(out).toContain('default="auto"');
  });

  it('what the parser refuses, the rewrite refuses with the same message (nothing printed)', () => {
    const text = `<domain>\n  <name>vm</name>\n  <metadata><vfioctl:groups ${NS}><vfioctl:device address="0000:02:01.0" group="manual"/></vfioctl:groups></metadata>\n  <devices>\n${dev(1, "<driver name='vfio' group='auto'/>")}  </devices>\n</domain>\n`;
    expect(inputErrorOf(() => move(text)).message).toBe(inputErrorOf(() => parseLibvirtXml(text, 'vm.xml')).message);
  });
});
