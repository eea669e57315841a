import fs from 'node:fs';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { InputError, NotFoundError } from '../../src/errors.js';
import { formatAddress } from '../../src/pci/address.js';
import { parseLibvirtXml, readLibvirtXmlFile } from '../../src/xml/index.js';
import { fixture } from '../helpers/cli.js';
import { tempFile } from '../helpers/xml.js';

const hostdev = (driver: string, address = "<address domain='0x0000' bus='0x01' slot='0x00' function='0x0'/>", attrs = "managed='yes'"): string =>
  `<domain type='kvm'>\n  <name>vm</name>\n  <devices>\n    <hostdev mode='subsystem' type='pci' ${attrs}>\n      ${driver}\n      <source>\n        ${address}\n      </source>\n    </hostdev>\n  </devices>\n</domain>\n`;
const iface = (driver: string, managed = "managed='yes'"): string =>
  `<domain type='kvm'>\n  <name>vm</name>\n  <devices>\n    <interface type='hostdev' ${managed}>\n      ${driver}\n      <source>\n        <address type='pci' domain='0x0000' bus='0x3b' slot='0x02' function='0x0'/>\n      </source>\n    </interface>\n  </devices>\n</domain>\n`;
const network = (driver: string, pool = "<pf dev='ens1f0'/>"): string =>
  `<network>\n  <name>passthrough</name>\n  <forward mode='hostdev' managed='yes'>\n    ${driver}\n    ${pool}\n  </forward>\n</network>\n`;

function errorOf(fn: () => unknown): InputError {
  try {
    fn();
  } catch (err) {
    if (err instanceof InputError) return err;
    throw err;
  }
  throw new Error('expected an InputError');
}

describe('domain XML', () => {
  it("reads a GPU and its audio function with group='auto', managed, and where each came from", () => {
    const doc = readLibvirtXmlFile(fixture('xml', 'gpu-with-audio-auto.xml'));
    expect(doc).toMatchObject({ kind: 'domain', name: 'gaming', notHandled: [] });
    expect(doc.assignments.map((a) => [a.kind, formatAddress((a.target as Extract<typeof a.target, { type: 'address' }>).address), a.managed, a.driverName, a.groupMode, a.groupModeExplicit, a.source.line])).toEqual([
      ['hostdev', '0000:01:00.0', true, 'vfio', 'auto', true, 5],
      ['hostdev', '0000:01:00.1', true, 'vfio', 'auto', true, 11],
    ]);
  });

  it("reads <interface type='hostdev'> with decimal numbers; no <driver> means manual; USB is reported as not handled", () => {
    const i = readLibvirtXmlFile(fixture('xml', 'interface-hostdev-manual.xml')).assignments[0]!;
    expect(i).toMatchObject({ kind: 'interface', groupMode: 'manual', groupModeExplicit: true, target: { address: { domain: 0, bus: 59, slot: 2, function: 3 } } });
    const doc = readLibvirtXmlFile(fixture('xml', 'usb-and-pci.xml'));
    expect(doc.notHandled.map((n) => [n.source.line, n.reason])).toEqual([[4, expect.stringMatching(/USB hostdevs are not handled/)]]);
    // domain defaults to 0; no <driver>: manual, not explicit, backend left to libvirt
    expect(doc.assignments[0]).toMatchObject({ driverName: undefined, groupMode: 'manual', groupModeExplicit: false, target: { address: { domain: 0, bus: 2 } } });
  });

  it.each([
    ['default', "<driver name='vfio' group='default'/>"],
    ['an unknown word', "<driver name='vfio' group='all'/>"],
    ['the wrong case', "<driver name='vfio' group='Auto'/>"],
    ['empty', "<driver name='vfio' group=''/>"],
  ])("group = %s is rejected with the seed's message, naming the element and its line", (_l, driver) => {
    const value = /group='([^']*)'/.exec(driver)![1]!;
    const e = errorOf(() => parseLibvirtXml(hostdev(driver), 'vm.xml'));
    expect(e.message).toBe(`vm.xml:5: <driver>: Unknown PCI device group management method <driver group='${value}'/> has been specified`);
    expect(errorOf(() => parseLibvirtXml(iface(driver), 'vm.xml')).message).toContain(`Unknown PCI device group management method <driver group='${value}'/> has been specified`);
    expect(errorOf(() => parseLibvirtXml(network(driver), 'net.xml')).message).toBe(`net.xml:4: <driver>: Unknown forward <driver group='${value}'/> in network passthrough`);
  });

  it.each([
    ["name='kvm'", "<driver name='kvm' group='auto'/>"],
    ['no name', "<driver group='auto'/>"],
  ])('group with %s is rejected: it belongs to the vfio choice of the RNG', (_l, driver) => {
    expect(errorOf(() => parseLibvirtXml(hostdev(driver), 'vm.xml')).message).toMatch(/^vm\.xml:5: <driver>: group='auto' is only allowed with <driver name='vfio'\/>/);
  });

  it("group on an <interface type='hostdev'> needs managed='yes' (the seed's docs)", () => {
    const e = errorOf(() => parseLibvirtXml(iface("<driver name='vfio' group='auto'/>", "managed='no'"), 'vm.xml'));
    expect(e.message).toMatch(/^vm\.xml:4: <interface>: .*requires managed='yes'/);
    expect(() => parseLibvirtXml(iface("<driver name='vfio' group='auto'/>", ''), 'vm.xml')).toThrow(/requires managed='yes'/);
    expect(parseLibvirtXml(iface("<driver name='vfio'/>", "managed='no'"), 'vm.xml').assignments[0]!.managed).toBe(false);
  });

  it.each([
    ['path traversal in bus', "<address domain='0x0000' bus='../../' slot='0x00' function='0x0'/>", /bus='\.\.\/\.\.\/'/],
    ['a second value', "<address domain='0x0000' bus='0x01 0x02' slot='0x00' function='0x0'/>", /invalid PCI address bus/],
    ['a negative number', "<address domain='0x0000' bus='-1' slot='0x00' function='0x0'/>", /invalid PCI address bus/],
    ['bus out of range', "<address domain='0x0000' bus='0x100' slot='0x00' function='0x0'/>", /bus='0x100' is out of range/],
    ['slot out of range', "<address domain='0x0000' bus='0x01' slot='32' function='0x0'/>", /slot='32' is out of range/],
    ['function out of range', "<address domain='0x0000' bus='0x01' slot='0x00' function='8'/>", /function='8' is out of range/],
    ['domain out of range', "<address domain='0x10000' bus='0x01' slot='0x00' function='0'/>", /domain='0x10000' is out of range/],
    ['an empty attribute', "<address domain='0x0000' bus='' slot='0x00' function='0x0'/>", /invalid PCI address bus=''/],
    ['spaces', "<address domain='0x0000' bus=' 0x01' slot='0x00' function='0x0'/>", /invalid PCI address bus/],
    ['a missing slot', "<address domain='0x0000' bus='0x01' function='0x0'/>", /has no slot attribute/],
    ['a USB address type', "<address type='usb' bus='0x01' slot='0x00' function='0x0'/>", /is not a PCI address/],
  ])('address with %s: a validation error naming the element and line', (_l, address, message) => {
    const e = errorOf(() => parseLibvirtXml(hostdev("<driver name='vfio'/>", address), 'vm.xml'));
    expect(e.message).toMatch(/^vm\.xml:7: <address>/);
    expect(e.message).toMatch(message);
  });

  it.each([
    ['a slash', "<pf dev='eth0/../..'/>", /contains '\/'/],
    ['too long', "<pf dev='abcdefghijklmnop'/>", /16 bytes long; the kernel allows at most 15/],
    ['dot-dot', "<pf dev='..'/>", /is not a name/],
    ['whitespace', "<interface dev='eth 0'/>", /whitespace/],
    ['empty', "<pf dev=''/>", /it is empty/],
  ])('interface name with %s is refused', (_l, pool, message) => {
    expect(() => parseLibvirtXml(network("<driver name='vfio'/>", pool), 'net.xml')).toThrow(message);
  });

  it('the same element twice where libvirt reads one is an error', () => {
    const two = hostdev("<driver name='vfio'/>", "<address bus='0x01' slot='0x00' function='0x0'/><address bus='0x02' slot='0x00' function='0x0'/>");
    expect(() => parseLibvirtXml(two, 'vm.xml')).toThrow(/a second <address> inside <source>/);
  });
});

describe('network XML', () => {
  it('a <pf> pool: every VF of that PF, resolved later through sysfs', () => {
    const doc = readLibvirtXmlFile(fixture('xml', 'sriov-pf-network.xml'));
    expect(doc).toMatchObject({ kind: 'network', name: 'passthrough', forwardMode: 'hostdev' });
    expect(doc.assignments).toEqual([
      expect.objectContaining({ kind: 'network', managed: true, driverName: 'vfio', groupMode: 'auto', target: { type: 'pf', dev: 'ens1f0' } }),
    ]);
  });

  it('an <address> and <interface> pool: one assignment per entry, with the forward element settings', () => {
    const doc = readLibvirtXmlFile(fixture('xml', 'address-pool-network.xml'));
    expect(doc.assignments.map((a) => [a.source.element, a.source.line, a.target.type, a.groupMode])).toEqual([
      ['address', 5, 'address', 'manual'],
      ['address', 6, 'address', 'manual'],
      ['interface', 7, 'netdev', 'manual'],
    ]);
  });

  it('any other forward mode: not a hostdev network, nothing to assign', () => {
    expect(readLibvirtXmlFile(fixture('xml', 'nat-network.xml'))).toMatchObject({ kind: 'network', forwardMode: 'nat', assignments: [] });
  });

  it('an unknown root element is an error', () => {
    expect(() => parseLibvirtXml('<pool type="dir"><name>x</name></pool>', 'p.xml')).toThrow(/the root element is <pool>; vfioctl reads libvirt domain XML/);
  });
});

describe('hostile XML', () => {
  it.each([
    ['an external entity', `<?xml version="1.0"?>\n<!DOCTYPE domain [<!ENTITY x SYSTEM "file:///etc/shadow">]>\n<domain><name>&x;</name></domain>`, /vm\.xml:2: <!DOCTYPE> declarations are not accepted/],
    ['an entity expansion bomb', `<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;">]>\n<domain><name>&lol2;</name></domain>`, /<!DOCTYPE> declarations are not accepted/],
    ['malformed XML', `<domain>\n  <name>x</name>\n  <devices>\n</domain>`, /^vm\.xml:\d+:\d+: malformed XML/],
    ['an undefined entity', `<domain><name>&nope;</name></domain>`, /malformed XML|suspicious XML/],
    ['deep nesting', `<domain>${'<a>'.repeat(200)}${'</a>'.repeat(200)}</domain>`, /nested more than 64 deep/],
    ['a NUL byte', `<domain><name>x\u0000</name></domain>`, /NUL character/],
    ['no element at all', `<?xml version="1.0"?>`, /malformed XML|no XML element/],
  ])('%s: a clear InputError', (_l, text, message) => {
    expect(errorOf(() => parseLibvirtXml(text, 'vm.xml')).message).toMatch(message);
  });

  it('a 50 MB file is refused by its size before it is read', () => {
    const file = tempFile('huge.xml', '');
    fs.truncateSync(file, 50 * 1024 * 1024);
    expect(() => readLibvirtXmlFile(file)).toThrow(/is 52428800 bytes; vfioctl reads libvirt XML files of at most 4194304 bytes/);
  });

  it('invalid UTF-8 is refused', () => {
    const file = tempFile('latin1.xml', '');
    fs.writeFileSync(file, Buffer.concat([Buffer.from('<domain><name>'), Buffer.from([0xff, 0xfe]), Buffer.from('</name></domain>')]));
    expect(() => readLibvirtXmlFile(file)).toThrow(/not valid UTF-8/);
  });

  it('a missing file is not-found; a directory is invalid input', () => {
    expect(() => readLibvirtXmlFile('/nonexistent/vm.xml')).toThrow(NotFoundError);
    expect(() => readLibvirtXmlFile('/tmp')).toThrow(/is a directory/);
  });
});

describe('properties (fast-check)', () => {
  it('any attribute text: either a typed, in-range address or an InputError, never anything else', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 12 }), fc.string({ maxLength: 12 }), (bus, slot) => {
        const esc = (s: string): string => s.replace(/&/g, '&amp;').replace(/'/g, '&apos;').replace(/</g, '&lt;');
        const xml = hostdev("<driver name='vfio'/>", `<address bus='${esc(bus)}' slot='${esc(slot)}' function='0'/>`);
        try {
          const a = parseLibvirtXml(xml, 'p.xml').assignments[0]!.target as { address: { bus: number; slot: number } };
          return a.address.bus >= 0 && a.address.bus <= 0xff && a.address.slot >= 0 && a.address.slot <= 0x1f;
        } catch (err) {
          return err instanceof InputError;
        }
      }),
      { numRuns: 300 },
    );
  });

  it('any interface name: accepted only when it follows the kernel rules', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 20 }), (name) => {
        const esc = name.replace(/&/g, '&amp;').replace(/'/g, '&apos;').replace(/</g, '&lt;');
        try {
          const t = parseLibvirtXml(network("<driver name='vfio'/>", `<pf dev='${esc}'/>`), 'n.xml').assignments[0]!.target as { dev: string };
          return Buffer.byteLength(t.dev) <= 15 && t.dev.length > 0 && !/[/\s:]/.test(t.dev) && t.dev !== '.' && t.dev !== '..';
        } catch (err) {
          return err instanceof InputError;
        }
      }),
      { numRuns: 300 },
    );
  });

  it('any valid address written in 0x hex reads back as itself', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 0xffff }), fc.integer({ min: 0, max: 0xff }), fc.integer({ min: 0, max: 0x1f }), fc.integer({ min: 0, max: 7 }), (d, b, s, f) => {
        const h = (n: number): string => `0x${n.toString(16)}`;
        const a = parseLibvirtXml(hostdev("<driver name='vfio'/>", `<address domain='${h(d)}' bus='${h(b)}' slot='${h(s)}' function='${h(f)}'/>`), 'p.xml').assignments[0]!.target;
        return JSON.stringify(a) === JSON.stringify({ type: 'address', address: { domain: d, bus: b, slot: s, function: f } });
      }),
      { numRuns: 200 },
    );
  });
});
