import { describe, expect, it } from 'vitest';
import { parseLibvirtXml, readLibvirtXmlFile } from '../../src/xml/index.js';
import { fixture } from '../helpers/cli.js';
import { hostdevDomain, inputErrorOf, interfaceDomain, rows, shownTarget } from './documents.js';

const xml = (name: string): string => fixture('xml', name);

describe('domain XML: what a user assigns', () => {
  it("a GPU and its audio function with group='auto': two managed vfio hostdevs, each with its line; the guest-side <address> is not the host's", () => {
    const doc = readLibvirtXmlFile(xml('gpu-with-audio-auto.xml'));
    expect(doc).toMatchObject({ kind: 'domain', name: 'gaming', file: xml('gpu-with-audio-auto.xml'), notHandled: [] });
    expect(rows(doc)).toEqual([
      ['hostdev', 'hostdev', 5, '0000:01:00.0', true, 'vfio', 'auto', true],
      ['hostdev', 'hostdev', 12, '0000:01:00.1', true, 'vfio', 'auto', true],
    ]);
  });

  it('a workstation with every kind of device: PCI hostdevs and hostdev interfaces in file order, the rest not handled or ignored', () => {
    const doc = readLibvirtXmlFile(xml('workstation-mixed-devices.xml'));
    expect(doc.name).toBe('workstation');
    expect(rows(doc)).toEqual([
      ['hostdev', 'hostdev', 24, '0000:0a:00.0', true, 'vfio', 'auto', true],
      ['interface', 'interface', 39, '0000:3b:02.4', true, 'vfio', 'manual', true],
      // decimal numbers; no <driver>: libvirt picks the backend, group management stays manual
      ['hostdev', 'hostdev', 52, '0001:02:03.4', false, undefined, 'manual', false],
    ]);
    expect(doc.notHandled.map((n) => [n.source.element, n.source.line, n.reason])).toEqual([
      ['hostdev', 33, 'USB hostdevs are not handled by vfioctl (only PCI devices have IOMMU groups)'],
      ['hostdev', 47, expect.stringMatching(/^mediated devices \(mdev\) are not handled by vfioctl/)],
      ['hostdev', 57, 'SCSI hostdevs are not handled by vfioctl (only PCI devices have IOMMU groups)'],
      ['hostdev', 63, expect.stringMatching(/^mode='capabilities' hostdevs .* are not handled by vfioctl/)],
    ]);
  });

  it("<interface type='hostdev'> with group='manual' and decimal numbers", () => {
    expect(rows(readLibvirtXmlFile(xml('interface-hostdev-manual.xml')))).toEqual([['interface', 'interface', 4, '0000:3b:02.3', true, 'vfio', 'manual', true]]);
  });

  it('a USB hostdev next to a PCI one: the USB one is reported as not handled, the PCI one (no domain attribute) is domain 0', () => {
    const doc = readLibvirtXmlFile(xml('usb-and-pci.xml'));
    expect(doc.notHandled).toEqual([{ source: { file: xml('usb-and-pci.xml'), line: 4, element: 'hostdev' }, reason: 'USB hostdevs are not handled by vfioctl (only PCI devices have IOMMU groups)' }]);
    expect(rows(doc)).toEqual([['hostdev', 'hostdev', 10, '0000:02:00.0', true, undefined, 'manual', false]]);
  });

  it.each([
    ['scsi_host', /^vhost-scsi hostdevs are not handled/],
    ['mdev', /^mediated devices/],
  ])("type='%s' is reported as not handled", (type, reason) => {
    const doc = parseLibvirtXml(hostdevDomain().replace("type='pci'", `type='${type}'`), 'vm.xml');
    expect(doc.assignments).toEqual([]);
    expect(doc.notHandled[0]!.reason).toMatch(reason);
  });

  it('hostdevs and interfaces outside /domain/devices, and other interface types, are not devices to assign', () => {
    const text = `<domain><name>x</name><metadata><hostdev mode='subsystem' type='pci'><source><address bus='1' slot='0' function='0'/></source></hostdev></metadata>
<devices><interface type='bridge'><source bridge='br0'/></interface><devices><hostdev mode='subsystem' type='pci'/></devices></devices></domain>`;
    expect(parseLibvirtXml(text, 'vm.xml')).toEqual({ kind: 'domain', name: 'x', file: 'vm.xml', assignments: [], notHandled: [] });
  });
});

describe("the libvirt proposal's group attribute on <driver>", () => {
  it.each([
    ["<driver name='vfio'/>", 'manual', false],
    ["<driver name='vfio' group='manual'/>", 'manual', true],
    ["<driver name='vfio' group='auto'/>", 'auto', true],
    ['', 'manual', false],
  ])("'%s' → groupMode %s, explicit %s, on a <hostdev> and on an <interface>", (driver, mode, explicit) => {
    for (const text of [hostdevDomain({ driver }), interfaceDomain({ driver })]) {
      expect(parseLibvirtXml(text, 'vm.xml').assignments[0]).toMatchObject({ groupMode: mode, groupModeExplicit: explicit });
    }
  });

  // The parser's enum has "default" as its first entry and refuses it explicitly; case matters (TypeFromString is STREQ).
  it.each([
    ['default', 'default'],
    ['Auto', 'Auto'],
    ['MANUAL', 'MANUAL'],
    ['yes', 'yes'],
    ['', ''],
    [' auto', ' auto'],
    ['auto&#9;', 'auto\\x09'],
  ])("group='%s' is refused with libvirt's parser's message, verbatim, on the <driver> line", (value, shown) => {
    const driver = `<driver name='vfio' group='${value}'/>`;
    const libvirtMessage = `Unknown PCI device group management method <driver group='${shown}'/> has been specified`;
    expect(inputErrorOf(() => parseLibvirtXml(hostdevDomain({ driver }), 'vm.xml')).message).toBe(`vm.xml:5: <driver>: ${libvirtMessage}`);
    expect(inputErrorOf(() => parseLibvirtXml(interfaceDomain({ driver }), 'vm.xml')).message).toBe(`vm.xml:5: <driver>: ${libvirtMessage}`);
  });

  it.each([
    ["name='kvm'", "<driver name='kvm' group='auto'/>", ", not name='kvm'"],
    ["name='xen'", "<driver name='xen' group='manual'/>", ", not name='xen'"],
    ['no name', "<driver group='auto'/>", ''],
  ])("group with %s is refused: the docs give group only with name='vfio'", (_l, driver, not) => {
    const e = inputErrorOf(() => parseLibvirtXml(hostdevDomain({ driver }), 'vm.xml'));
    const group = /group='(\w+)'/.exec(driver)![1]!;
    expect(e.message).toBe(`vm.xml:5: <driver>: group='${group}' is only valid with <driver name='vfio'/>${not}: IOMMU group management belongs to VFIO device assignment.`);
    expect(e.hint).toBe(`Write <driver name='vfio' group='${group}'/>.`);
  });

  it('a wrong name is reported before a wrong group, as libvirt reads them', () => {
    expect(inputErrorOf(() => parseLibvirtXml(hostdevDomain({ driver: "<driver name='pci-stub' group='bogus'/>" }), 'vm.xml')).message).toBe(
      "vm.xml:5: <driver>: Unknown PCI device <driver name='pci-stub'/> has been specified",
    );
  });
});

describe("<interface type='hostdev'>: group needs managed='yes' (the libvirt proposal's docs)", () => {
  it("group='auto' on an interface without managed is refused, with the interface's line and a way out", () => {
    const file = xml('interface-hostdev-group-unmanaged.xml');
    const e = inputErrorOf(() => readLibvirtXmlFile(file));
    expect(e.message).toBe(`${file}:4: <interface>: <driver group='auto'/> on an <interface type='hostdev'> requires managed='yes' on the interface (libvirt manages the group only of an interface it manages).`);
    expect(e.hint).toMatch(/managed='yes'/);
  });

  it.each([
    ["managed='no', group='manual'", "managed='no'", "<driver name='vfio' group='manual'/>", /requires managed='yes'/],
    ["managed='no', no group", "managed='no'", "<driver name='vfio'/>", undefined],
    ["managed='yes', group='auto'", "managed='yes'", "<driver name='vfio' group='auto'/>", undefined],
  ])('%s', (_l, attrs, driver, refused) => {
    const parse = (): unknown => parseLibvirtXml(interfaceDomain({ attrs, driver }), 'vm.xml');
    if (refused) expect(inputErrorOf(parse).message).toMatch(refused);
    else expect(parse()).toMatchObject({ assignments: [{ kind: 'interface' }] });
  });

  it('a <hostdev> needs no managed for group: the rule is the interface\'s', () => {
    expect(parseLibvirtXml(hostdevDomain({ attrs: '', driver: "<driver name='vfio' group='auto'/>" }), 'vm.xml').assignments[0]).toMatchObject({ managed: false, groupMode: 'auto' });
  });
});

describe('managed and the driver name', () => {
  it.each([
    ["managed='yes'", true, "managed='yes'"],
    ["managed='no'", false, "managed='no'"],
    ['no managed attribute', false, ''],
  ])('%s → managed %s', (_l, managed, attrs) => {
    expect(parseLibvirtXml(hostdevDomain({ attrs }), 'vm.xml').assignments[0]!.managed).toBe(managed);
    expect(parseLibvirtXml(interfaceDomain({ attrs }), 'vm.xml').assignments[0]!.managed).toBe(managed);
  });

  it.each(['YES', 'true', '1', '', 'yes no'])("managed='%s' is refused on the element's line", (value) => {
    expect(inputErrorOf(() => parseLibvirtXml(hostdevDomain({ attrs: `managed='${value}'` }), 'vm.xml')).message).toBe(
      `vm.xml:4: <hostdev>: managed='${value}' is not valid: use managed='yes' or managed='no'.`,
    );
  });

  it.each(['vfio', 'kvm', 'xen'])("<driver name='%s'/> is read as it is", (name) => {
    expect(parseLibvirtXml(hostdevDomain({ driver: `<driver name='${name}'/>` }), 'vm.xml').assignments[0]!.driverName).toBe(name);
  });

  it.each(['VFIO', 'vfio-pci', 'default', ''])("<driver name='%s'/> is refused with libvirt's message", (name) => {
    expect(inputErrorOf(() => parseLibvirtXml(hostdevDomain({ driver: `<driver name='${name}'/>` }), 'vm.xml')).message).toBe(
      `vm.xml:5: <driver>: Unknown PCI device <driver name='${name}'/> has been specified`,
    );
  });
});

describe('the host PCI address in <source>', () => {
  const addressOf = (address: string): string => shownTarget(parseLibvirtXml(hostdevDomain({ address }), 'vm.xml').assignments[0]!.target);

  it.each([
    ['0x hex', "<address domain='0x0000' bus='0x3b' slot='0x02' function='0x1'/>", '0000:3b:02.1'],
    ['upper-case hex and 0X', "<address domain='0X00AB' bus='0XFF' slot='0x1F' function='0x7'/>", '00ab:ff:1f.7'],
    ['decimal', "<address domain='1' bus='59' slot='31' function='7'/>", '0001:3b:1f.7'],
    ['zero-padded hex', "<address domain='0x00000000' bus='0x000000ff' slot='0x0002' function='0x00'/>", '0000:ff:02.0'],
    ['no domain (0)', "<address bus='0x01' slot='0x00' function='0x1'/>", '0000:01:00.1'],
    ["type='pci'", "<address type='pci' bus='0x01' slot='0x00' function='0x1'/>", '0000:01:00.1'],
    ['the largest address', "<address domain='0xffff' bus='0xff' slot='0x1f' function='0x7'/>", 'ffff:ff:1f.7'],
    ['zero-padded decimal, as libvirt reads it (a leading 0 is octal; 02 is 2)', "<address domain='0000' bus='00' slot='02' function='0'/>", '0000:00:02.0'],
    ['octal: 010 is 8, 017 is 15', "<address domain='0' bus='010' slot='017' function='07'/>", '0000:08:0f.7'],
    ['leading white space and a plus sign (strtoul skips and accepts them)', "<address domain=' 0x0' bus='&#9;+0x3b' slot='&#10;2' function='+1'/>", '0000:3b:02.1'],
    ['many leading zeros after 0x, and 00 as octal zero', "<address domain='00' bus='0x00000000003b' slot='0X0002' function='00'/>", '0000:3b:02.0'],
  ])('%s', (_l, address, expected) => {
    expect(addressOf(address)).toBe(expected);
  });

  it.each([
    ['bus', "<address domain='0x0000' slot='0x00' function='0x0'/>"],
    ['slot', "<address domain='0x0000' bus='0x01' function='0x0'/>"],
    ['function', "<address domain='0x0000' bus='0x01' slot='0x00'/>"],
  ])('a missing %s is named, on the <address> line', (field, address) => {
    const e = inputErrorOf(() => addressOf(address));
    expect(e.message).toBe(`vm.xml:7: <address>: the PCI address has no ${field} attribute.`);
  });

  it.each([
    ['path traversal', 'bus', '../../', "invalid PCI address bus='../../': expected a number as libvirt reads it: hex (0x..), octal (a leading 0) or decimal."],
    ['a path to sysfs', 'slot', '/sys/bus/pci', "invalid PCI address slot='/sys/bus/pci'"],
    ['two values', 'bus', '0x01 0x02', "invalid PCI address bus='0x01 0x02'"],
    ['a negative number', 'bus', '-1', "invalid PCI address bus='-1'"],
    ['an empty value', 'bus', '', "invalid PCI address bus=''"],
    ['trailing space (strtoul stops there, libvirt refuses what is left)', 'bus', '0x01 ', "invalid PCI address bus='0x01 '"],
    ['a minus sign, even on zero', 'function', '-0', "invalid PCI address function='-0'"],
    ['two signs', 'function', '+-1', "invalid PCI address function='+-1'"],
    ['a non-octal digit after a leading 0', 'bus', '08', "invalid PCI address bus='08'"],
    ['an exponent', 'bus', '1e3', "invalid PCI address bus='1e3'"],
    ['a bare 0x', 'bus', '0x', "invalid PCI address bus='0x'"],
    ['a non-hex digit', 'bus', '0x1g', "invalid PCI address bus='0x1g'"],
    ['octal beyond the range (040 is 32)', 'slot', '040', "PCI address slot='040' is out of range (at most 0x1f)."],
    ['non-ASCII digits', 'bus', '٣', "invalid PCI address bus='٣'"],
    ['a trailing tab from a character reference', 'bus', '0x01&#9;', "invalid PCI address bus='0x01\\x09'"],
    ['bus > 0xff', 'bus', '0x100', "PCI address bus='0x100' is out of range (at most 0xff)."],
    ['slot > 0x1f', 'slot', '32', "PCI address slot='32' is out of range (at most 0x1f)."],
    ['function > 7', 'function', '0x8', "PCI address function='0x8' is out of range (at most 0x7)."],
    ['domain > 0xffff', 'domain', '0x10000', "PCI address domain='0x10000' is out of range (at most 0xffff)."],
    ['a number beyond 32 bits', 'bus', '99999999999', "invalid PCI address bus='99999999999'"],
  ])('%s is refused with the field and the text, on the <address> line', (_l, field, value, message) => {
    const fields: Record<string, string> = { domain: '0x0000', bus: '0x01', slot: '0x00', function: '0x0' };
    fields[field] = value;
    const address = `<address ${Object.entries(fields).map(([k, v]) => `${k}='${v}'`).join(' ')}/>`;
    const e = inputErrorOf(() => addressOf(address));
    expect(e.message.startsWith('vm.xml:7: <address>: ')).toBe(true);
    expect(e.message).toContain(message);
  });

  it.each(['usb', 'drive', 'PCI', ''])("an address of type='%s' is refused: vfioctl assigns PCI devices", (type) => {
    expect(inputErrorOf(() => addressOf(`<address type='${type}' bus='0x01' slot='0x00' function='0x0'/>`)).message).toBe(
      `vm.xml:7: <address>: type='${type}' is not a PCI address; vfioctl assigns PCI devices (type='pci').`,
    );
  });
});

describe('structure libvirt would refuse', () => {
  const hostdevWith = (inner: string, attrs = "mode='subsystem' type='pci' managed='yes'"): string =>
    `<domain>\n<name>vm</name>\n<devices>\n<hostdev ${attrs}>\n${inner}\n</hostdev>\n</devices>\n</domain>`;
  const src = "<source>\n<address bus='0x01' slot='0x00' function='0x0'/>\n</source>";

  it.each([
    ['two <source> elements', `${src}\n${src}`, "vm.xml:8: <source>: a second <source> inside <hostdev>; libvirt reads exactly one."],
    ['two addresses in one <source>', "<source>\n<address bus='0x01' slot='0x00' function='0x0'/>\n<address bus='0x02' slot='0x00' function='0x0'/>\n</source>", "vm.xml:7: <address>: a second <address> inside <source>; libvirt reads exactly one."],
    ['two <driver> elements', `<driver name='vfio'/>\n<driver name='vfio' group='auto'/>\n${src}`, "vm.xml:6: <driver>: a second <driver> inside <hostdev>; libvirt reads exactly one."],
    ['no <source>', "<driver name='vfio'/>", 'vm.xml:4: <hostdev>: it has no <source> element.'],
    ['a <source> without <address>', "<source>\n<vendor id='0x10de'/>\n</source>", "vm.xml:5: <source>: it has no <address>; vfioctl finds the host's PCI device by <address domain= bus= slot= function=/> inside <source>."],
  ])('%s', (_l, inner, message) => {
    expect(inputErrorOf(() => parseLibvirtXml(hostdevWith(inner), 'vm.xml')).message).toBe(message);
  });

  it.each([
    ["a hostdev with no type", "mode='subsystem'", "vm.xml:4: <hostdev>: it has no type attribute; PCI device assignment is <hostdev mode='subsystem' type='pci'>."],
    ['an unknown type', "mode='subsystem' type='pcie'", "vm.xml:4: <hostdev>: type='pcie' is not a hostdev type libvirt knows (pci, usb, scsi, scsi_host, mdev)."],
    ['an unknown mode', "mode='passthrough' type='pci'", "vm.xml:4: <hostdev>: mode='passthrough' is not a hostdev mode: libvirt knows mode='subsystem' and mode='capabilities'."],
  ])('%s', (_l, attrs, message) => {
    expect(inputErrorOf(() => parseLibvirtXml(hostdevWith(src, attrs), 'vm.xml')).message).toBe(message);
  });

  it('no mode attribute means subsystem, as in libvirt', () => {
    expect(parseLibvirtXml(hostdevWith(src, "type='pci'"), 'vm.xml').assignments).toHaveLength(1);
  });

  it("an <interface type='hostdev'> that names a netdev instead of a PCI address", () => {
    const text = "<domain><name>vm</name><devices>\n<interface type='hostdev' managed='yes'>\n<source dev='eth0'/>\n</interface></devices></domain>";
    expect(inputErrorOf(() => parseLibvirtXml(text, 'vm.xml')).message).toMatch(/^vm\.xml:3: <source>: it has no <address>/);
  });
});
