import { describe, expect, it } from 'vitest';
import { parseLibvirtXml, readLibvirtXmlFile } from '../../src/xml/index.js';
import { fixture } from '../helpers/cli.js';
import { attrText, hostdevNetwork, inputErrorOf, rows } from './documents.js';

const xml = (name: string): string => fixture('xml', name);

describe('hostdev networks: one assignment per pool entry, carrying the <forward> settings', () => {
  it("<pf dev='ens1f0'/>: every VF of that PF, resolved later through sysfs", () => {
    const doc = readLibvirtXmlFile(xml('sriov-pf-network.xml'));
    expect(doc).toMatchObject({ kind: 'network', name: 'passthrough', forwardMode: 'hostdev', notHandled: [] });
    expect(rows(doc)).toEqual([['network', 'pf', 5, 'pf ens1f0', true, 'vfio', 'auto', true]]);
  });

  it('an <address> pool: each address on its line, group manual by default', () => {
    expect(rows(readLibvirtXmlFile(xml('address-pool-network.xml')))).toEqual([
      ['network', 'address', 5, '0000:3b:02.1', true, 'vfio', 'manual', false],
      ['network', 'address', 6, '0000:3b:02.2', true, 'vfio', 'manual', false],
      ['network', 'address', 7, '0000:3b:02.3', true, 'vfio', 'manual', false],
    ]);
  });

  it("an <interface> pool with managed='no' and group='manual'", () => {
    expect(rows(readLibvirtXmlFile(xml('interface-pool-network.xml')))).toEqual([
      ['network', 'interface', 6, 'netdev ens1f0v2', false, 'vfio', 'manual', true],
      ['network', 'interface', 7, 'netdev ens1f0v3', false, 'vfio', 'manual', true],
    ]);
  });

  it("<forward dev='ens1f0v0'> alone is a pool of that one interface (libvirt's shorthand)", () => {
    expect(rows(readLibvirtXmlFile(xml('forward-dev-network.xml')))).toEqual([['network', 'forward', 3, 'netdev ens1f0v0', true, 'vfio', 'auto', true]]);
  });

  it('<forward dev> naming the first <interface> of the pool is the same pool', () => {
    const doc = parseLibvirtXml(hostdevNetwork({ forward: "mode='hostdev' dev='ens1f0v2'", pool: "<interface dev='ens1f0v2'/><interface dev='ens1f0v3'/>" }), 'net.xml');
    expect(doc.assignments.map((a) => a.target)).toEqual([{ type: 'netdev', dev: 'ens1f0v2' }, { type: 'netdev', dev: 'ens1f0v3' }]);
  });

  it.each([
    ['no managed', false, "mode='hostdev'"],
    ["managed='yes'", true, "mode='hostdev' managed='yes'"],
    ["managed='no'", false, "mode='hostdev' managed='no'"],
  ])('%s on <forward> → managed %s for every entry', (_l, managed, forward) => {
    expect(parseLibvirtXml(hostdevNetwork({ forward }), 'net.xml').assignments[0]!.managed).toBe(managed);
  });

  it("managed='YES' on <forward> is refused on the <forward> line", () => {
    expect(inputErrorOf(() => parseLibvirtXml(hostdevNetwork({ forward: "mode='hostdev' managed='YES'" }), 'net.xml')).message).toBe(
      "net.xml:3: <forward>: managed='YES' is not valid: use managed='yes' or managed='no'.",
    );
  });
});

describe('networks that assign nothing', () => {
  it('a NAT network: not a hostdev network, and says which mode it is', () => {
    expect(readLibvirtXmlFile(xml('nat-network.xml'))).toEqual({ kind: 'network', name: 'default', file: xml('nat-network.xml'), assignments: [], notHandled: [], forwardMode: 'nat' });
  });

  it.each([
    ['no <forward> (an isolated network)', 'none', '<network><name>iso</name><bridge name="virbr9"/></network>'],
    ['<forward/> without mode (libvirt: nat)', 'nat', '<network><name>n</name><forward/></network>'],
    ["mode='bridge'", 'bridge', "<network><name>n</name><forward mode='bridge'/><bridge name='br0'/></network>"],
    ["mode='passthrough' with an interface pool", 'passthrough', "<network><name>n</name><forward mode='passthrough'><interface dev='eth1'/></forward></network>"],
  ])('%s → forwardMode %s', (_l, mode, text) => {
    expect(parseLibvirtXml(text, 'net.xml')).toMatchObject({ kind: 'network', assignments: [], forwardMode: mode });
  });

  it.each(['Hostdev', 'hostdev ', 'sriov', ''])("an unknown forward mode='%s' is refused rather than taken for a non-hostdev network", (mode) => {
    const e = inputErrorOf(() => parseLibvirtXml(hostdevNetwork({ forward: `mode='${mode}'` }), 'net.xml'));
    expect(e.message).toMatch(new RegExp(`^net\\.xml:3: <forward>: unknown forward mode='${mode}' in network passthrough: libvirt knows 'none', 'nat'`));
  });
});

describe("the libvirt proposal's group attribute on a network's <driver>", () => {
  it.each(['default', 'Auto', 'all', '', 'auto manual'])("group='%s' is refused with libvirt's parser's message, naming the network", (value) => {
    const e = inputErrorOf(() => parseLibvirtXml(hostdevNetwork({ driver: `<driver name='vfio' group='${value}'/>` }), 'net.xml'));
    expect(e.message).toBe(`net.xml:4: <driver>: Unknown forward <driver group='${value}'/> in network passthrough`);
  });

  it('the network name in the message is shown safely, and a missing name says so', () => {
    const driver = "<driver name='vfio' group='default'/>";
    expect(inputErrorOf(() => parseLibvirtXml(hostdevNetwork({ driver, name: 'a&#9;b' }), 'net.xml')).message).toBe(
      "net.xml:4: <driver>: Unknown forward <driver group='default'/> in network a\\x09b",
    );
    expect(inputErrorOf(() => parseLibvirtXml(hostdevNetwork({ driver }).replace('<name>passthrough</name>', ''), 'net.xml')).message).toMatch(/in network \(no <name>\)$/);
  });

  it("an unknown driver name gets libvirt's network message", () => {
    expect(inputErrorOf(() => parseLibvirtXml(hostdevNetwork({ driver: "<driver name='pci-stub'/>" }), 'net.xml')).message).toBe(
      "net.xml:4: <driver>: Unknown forward <driver name='pci-stub'/> in network passthrough",
    );
  });

  it("libvirt's parser reads <driver> whatever the forward mode, so a NAT network with a bad group is refused too", () => {
    const text = "<network><name>n</name>\n<forward mode='nat'>\n<driver name='vfio' group='always'/>\n</forward></network>";
    expect(inputErrorOf(() => parseLibvirtXml(text, 'net.xml')).message).toBe("net.xml:3: <driver>: Unknown forward <driver group='always'/> in network n");
  });

  it.each([
    ["<driver name='kvm' group='auto'/>", /group='auto' is only valid with <driver name='vfio'\/>, not name='kvm'/],
    ["<driver group='manual'/>", /group='manual' is only valid with <driver name='vfio'\/>:/],
  ])('%s: group only with vfio', (driver, message) => {
    expect(inputErrorOf(() => parseLibvirtXml(hostdevNetwork({ driver }), 'net.xml')).message).toMatch(message);
  });

  it('no <driver>: manual, not explicit, backend left to libvirt', () => {
    expect(parseLibvirtXml(hostdevNetwork({ driver: '' }), 'net.xml').assignments[0]).toMatchObject({ driverName: undefined, groupMode: 'manual', groupModeExplicit: false });
  });
});

describe("the pool: libvirt's rules", () => {
  it.each([
    ['<pf> and <interface> mixed', "<pf dev='ens1f0'/><interface dev='ens1f0v1'/>", /^net\.xml:3: <forward>: <address>, <interface> and <pf> elements in <forward> of network passthrough are mutually exclusive/],
    ['<address> and <interface> mixed', "<address type='pci' bus='0x3b' slot='0x02' function='0x1'/><interface dev='ens1f0v3'/>", /are mutually exclusive/],
    ['two <pf> elements', "<pf dev='ens1f0'/>\n    <pf dev='ens1f1'/>", /^net\.xml:6: <pf>: only one <pf> element is allowed in <forward> of network passthrough\.$/],
    ['a <pf> without dev', '<pf/>', /^net\.xml:5: <pf>: it has no dev attribute/],
    ['an <interface> without dev', '<interface/>', /^net\.xml:5: <interface>: it has no dev attribute/],
    ['an <address> without type', "<address bus='0x3b' slot='0x02' function='0x1'/>", /^net\.xml:5: <address>: it has no type attribute; a network's pool names PCI devices as <address type='pci'/],
    ["an <address type='usb'>", "<address type='usb' bus='0x3b' slot='0x02' function='0x1'/>", /^net\.xml:5: <address>: type='usb' is not a PCI address/],
    ['an address out of range', "<address type='pci' bus='0x3b' slot='0x20' function='0x1'/>", /^net\.xml:5: <address>: PCI address slot='0x20' is out of range/],
    ['no pool at all', '', /^net\.xml:3: <forward>: network passthrough has <forward mode='hostdev'> but no <pf>, <address> or <interface> element: there is no device to assign\.$/],
  ])('%s is refused', (_l, pool, message) => {
    expect(inputErrorOf(() => parseLibvirtXml(hostdevNetwork({ pool }), 'net.xml')).message).toMatch(message);
  });

  it.each([
    ['<forward dev> with a <pf>', "mode='hostdev' dev='ens1f0'", "<pf dev='ens1f0'/>", /^net\.xml:3: <forward>: the dev attribute of <forward> cannot be used with <address> or <pf> elements/],
    ['<forward dev> not matching the first <interface>', "mode='hostdev' dev='ens1f0v9'", "<interface dev='ens1f0v2'/>", /^net\.xml:5: <interface>: <forward dev='ens1f0v9'> must match the first <interface dev='ens1f0v2'\/>/],
    ['<forward dev> that is not an interface name', "mode='hostdev' dev='../eth0'", '', /^net\.xml:3: <forward>: Invalid interface name '\.\.\/eth0': it contains '\/'\.$/],
  ])('%s is refused', (_l, forward, pool, message) => {
    expect(inputErrorOf(() => parseLibvirtXml(hostdevNetwork({ forward, pool }), 'net.xml')).message).toMatch(message);
  });

  it.each([
    ['path traversal', 'eth0/../..', "it contains '/'"],
    ['an absolute path', '/sys/eth0', "it contains '/'"],
    ['dot', '.', "'.' is not a name"],
    ['dot-dot', '..', "'..' is not a name"],
    ['an alias with a colon', 'eth0:1', "it contains ':'"],
    ['a space', 'eth 0', 'it contains whitespace or control characters'],
    ['a tab from a character reference', 'eth0&#9;', 'it contains whitespace or control characters'],
    ['16 bytes', 'abcdefghijklmnop', 'it is 16 bytes long; the kernel allows at most 15'],
    ['8 two-byte characters (16 bytes)', 'éééééééé', 'it is 16 bytes long; the kernel allows at most 15'],
    ['an empty name', '', 'it is empty'],
  ])('an interface name with %s is refused, on the entry\'s line', (_l, dev, problem) => {
    for (const [pool, element] of [[`<pf dev='${dev}'/>`, 'pf'], [`<interface dev='${dev}'/>`, 'interface']] as const) {
      const e = inputErrorOf(() => parseLibvirtXml(hostdevNetwork({ pool }), 'net.xml'));
      expect(e.message).toMatch(new RegExp(`^net\\.xml:5: <${element}>: Invalid interface name '.*': `));
      expect(e.message).toContain(problem);
    }
  });

  it.each(['abcdefghijklmno', 'ens1f0v0', 'eth-0_vf.1', 'wlp0s20f3', 'éééé'])("'%s' follows the kernel's rules and is kept as written", (dev) => {
    expect(parseLibvirtXml(hostdevNetwork({ pool: `<interface dev='${attrText(dev)}'/>` }), 'net.xml').assignments[0]!.target).toEqual({ type: 'netdev', dev });
  });
});

describe('the same pool member twice is refused from the text (src/xml/duplicates.ts)', () => {
  it('one interface twice in a hostdev network pool: the second <interface> is named, with the first', () => {
    const text = hostdevNetwork({ pool: "<interface dev='ens1f0'/>\n      <interface dev='ens1f0'/>" });
    expect(() => parseLibvirtXml(text, 'net.xml')).toThrow(
      "net.xml:6: <interface>: interface ens1f0 is assigned a second time; the first <interface> at net.xml:5 names it already. libvirt refuses a network that assigns one device twice.",
    );
  });
  it('one PCI address written two ways (0x3b and 073 octal): the same device, refused', () => {
    const text = hostdevNetwork({ pool: "<address type='pci' bus='0x3b' slot='0x02' function='0x0'/>\n      <address type='pci' bus='073' slot='2' function='0'/>" });
    expect(() => parseLibvirtXml(text, 'net.xml')).toThrow(/^net\.xml:6: <address>: 0000:3b:02\.0 is assigned a second time; the first <address> at net\.xml:5/);
  });
});
