import { describe, expect, it } from 'vitest';
import { parseLibvirtXml, VFIOCTL_NS } from '../../src/xml/index.js';
import { inputErrorOf } from './documents.js';

/**
 * The group mode in libvirt's own definition: vfioctl's element in <metadata>, and the precedence
 * attribute > metadata entry > metadata default > manual. Documents are laid out on fixed lines: <metadata>'s
 * vfioctl element on line 3, its entries from line 4 on; the hostdevs from line 10 on, one line each.
 */
const NS = `xmlns:vfioctl="${VFIOCTL_NS}"`;

function domain(meta: string, devices: string[]): string {
  const lines = devices.map((d) => `    ${d}`);
  const metaLines = meta.split('\n');
  const pad = Array.from({ length: Math.max(0, 6 - metaLines.length) }, () => '');
  return ['<domain type="kvm">', '  <name>vm</name>', ...metaLines, ...pad, '  <devices>', ...lines, '  </devices>', '</domain>', ''].join('\n');
}

/** A one-line PCI hostdev of bus 0x02, slot `slot`; `group` adds the attribute. */
function hostdev(slot: number, group?: string, extra = "managed='yes'"): string {
  const g = group ? ` group='${group}'` : '';
  return `<hostdev mode='subsystem' type='pci' ${extra}><driver name='vfio'${g}/><source><address domain='0x0000' bus='0x02' slot='0x0${slot}' function='0x0'/></source></hostdev>`;
}

const meta = (inner: string, attrs = ''): string => `  <metadata><vfioctl:groups ${NS}${attrs}>\n${inner}\n  </vfioctl:groups></metadata>`;
const modes = (text: string): [string, string, number | undefined][] =>
  parseLibvirtXml(text, 'vm.xml').assignments.map((a) => [a.groupMode, a.groupModeSource, a.groupModeRef?.line]);

describe('the vfioctl metadata element: precedence', () => {
  it('attribute, then the entry for that address, then the default, then manual; each with where it came from', () => {
    const text = domain(meta('    <vfioctl:device address="0000:02:02.0" group="manual"/>\n    <vfioctl:device address="02:03.0" group="auto"/>', ' default="auto"'), [
      hostdev(1, 'manual'),
      hostdev(2),
      hostdev(3),
      hostdev(4),
    ]);
    expect(modes(text)).toEqual([
      ['manual', 'attribute', 10],
      ['manual', 'metadata-device', 4],
      ['auto', 'metadata-device', 5],
      ['auto', 'metadata-default', 3],
    ]);
    expect(modes(domain(meta('', ''), [hostdev(1)]))).toEqual([['manual', 'default', undefined]]);
  });

  it('the prefix does not matter: a default namespace, or any prefix virsh picked', () => {
    for (const m of [`  <metadata><groups xmlns="${VFIOCTL_NS}" default="auto"/></metadata>`, `  <metadata><x:groups xmlns:x="${VFIOCTL_NS}"><x:device address="0000:02:01.0" group="auto"/></x:groups></metadata>`]) {
      expect(modes(domain(m, [hostdev(1)]))[0]!.slice(0, 1)).toEqual(['auto']);
    }
  });

  it("a 'vfioctl' prefix in another namespace is not ours, and other applications' elements are left alone", () => {
    const m = `  <metadata><vfioctl:groups xmlns:vfioctl="https://example.org/other" default="auto"/><app:x xmlns:app="https://example.org/app" default="zzz"/></metadata>`;
    expect(modes(domain(m, [hostdev(1)]))).toEqual([['manual', 'default', undefined]]);
  });

  it("libvirt's address attributes name a device too; a network pool member by dev=", () => {
    expect(modes(domain(meta('    <vfioctl:device bus="0x02" slot="1" function="0" group="auto"/>'), [hostdev(1)]))[0]).toEqual(['auto', 'metadata-device', 4]);
    const net = `<network>\n  <name>pool</name>\n  <metadata><vfioctl:groups ${NS}><vfioctl:device dev="ens1f0v1" group="auto"/></vfioctl:groups></metadata>\n  <forward mode='hostdev' managed='yes'><interface dev='ens1f0v0'/><interface dev='ens1f0v1'/></forward>\n</network>`;
    expect(modes(net)).toEqual([
      ['manual', 'default', undefined],
      ['auto', 'metadata-device', 3],
    ]);
  });

  it("a network's default applies to every member of its pool", () => {
    const net = `<network>\n  <name>pool</name>\n  <metadata><vfioctl:groups ${NS} default="auto"/></metadata>\n  <forward mode='hostdev' managed='yes'><driver name='vfio'/><pf dev='ens1f0'/></forward>\n</network>`;
    expect(modes(net)).toEqual([['auto', 'metadata-default', 3]]);
  });

  it('the same mode from the attribute and an entry is fine: the attribute is where it came from', () => {
    expect(modes(domain(meta('    <vfioctl:device address="0000:02:01.0" group="auto"/>'), [hostdev(1, 'auto')]))).toEqual([['auto', 'attribute', 10]]);
  });
});

describe('the vfioctl metadata element: conflicts and typos name both places', () => {
  const err = (text: string): string => inputErrorOf(() => parseLibvirtXml(text, 'vm.xml')).message;

  it('attribute and entry disagree', () => {
    expect(err(domain(meta('    <vfioctl:device address="0000:02:01.0" group="manual"/>'), [hostdev(1, 'auto')]))).toBe(
      `vm.xml:10: <driver>: group='auto' here, but the vfioctl metadata gives 0000:02:01.0 group="manual" at vm.xml:4; one device has one group mode.`,
    );
  });

  it('two entries for one device (written two ways), with different modes or the same', () => {
    expect(err(domain(meta('    <vfioctl:device address="0000:02:01.0" group="manual"/>\n    <vfioctl:device bus="2" slot="1" function="0" group="auto"/>'), [hostdev(1)]))).toBe(
      'vm.xml:5: <vfioctl:device>: 0000:02:01.0 is already named at vm.xml:4 (group="manual" there, group="auto" here); name each device once.',
    );
    expect(err(domain(meta('    <vfioctl:device address="0000:02:01.0" group="auto"/>\n    <vfioctl:device address="02:01.0" group="auto"/>'), [hostdev(1)]))).toMatch(
      /^vm\.xml:5: <vfioctl:device>: 0000:02:01\.0 is already named at vm\.xml:4 \(group="auto" both times\)/,
    );
  });

  it('an entry for a device the domain does not assign', () => {
    expect(err(domain(meta('    <vfioctl:device address="0000:02:09.0" group="auto"/>'), [hostdev(1)]))).toBe(
      "vm.xml:4: <vfioctl:device>: 0000:02:09.0 is not assigned by domain 'vm' (no <hostdev> or <interface type='hostdev'> names it); an entry for a device that is not there is a typo vfioctl will not ignore.",
    );
    const e = inputErrorOf(() => parseLibvirtXml(domain(meta('    <vfioctl:device dev="eth0" group="auto"/>'), [hostdev(1)]), 'vm.xml'));
    expect(e.hint).toBe('In a domain, name the device by its PCI address: address="0000:02:01.0".');
  });

  it("a mode from the metadata obeys the attribute's rules: VFIO only, a hostdev interface only when managed", () => {
    const kvm = hostdev(1).replace("name='vfio'", "name='kvm'");
    expect(err(domain(meta('', ' default="auto"'), [kvm]))).toBe(
      `vm.xml:10: <hostdev>: the vfioctl metadata at vm.xml:3 gives it group="auto", but its <driver name='kvm'/> is not VFIO; IOMMU group management belongs to VFIO device assignment.`,
    );
    const iface = `<interface type='hostdev'><source><address type='pci' domain='0' bus='2' slot='1' function='0'/></source></interface>`;
    expect(err(domain(meta('    <vfioctl:device address="0000:02:01.0" group="manual"/>'), [iface]))).toMatch(/^vm\.xml:10: <interface>: the vfioctl metadata at vm\.xml:4 gives it group="manual", but an <interface type='hostdev'> needs managed='yes'/);
  });
});

describe('the vfioctl metadata element: strict form', () => {
  const err = (m: string): string => inputErrorOf(() => parseLibvirtXml(domain(m, [hostdev(1)]), 'vm.xml')).message;
  const one = (attrs: string): string => `  <metadata><vfioctl:groups ${NS}>\n    <vfioctl:device ${attrs}/>\n  </vfioctl:groups></metadata>`;

  it.each([
    [`  <metadata><vfioctl:groups ${NS} default="Auto"/></metadata>`, 'vm.xml:3: <vfioctl:groups>: default="Auto" is not a group mode: use "auto" (move the whole IOMMU group) or "manual" (only the named device).'],
    [`  <metadata><vfioctl:groups ${NS} defualt="auto"/></metadata>`, 'vm.xml:3: <vfioctl:groups>: unknown attribute defualt="auto"; <groups> takes default.'],
    [`  <metadata><vfioctl:groups ${NS} vfioctl:default="auto"/></metadata>`, 'vm.xml:3: <vfioctl:groups>: unknown attribute vfioctl:default="auto"; <groups> takes default.'],
    [`  <metadata><vfioctl:group ${NS} default="auto"/></metadata>`, "vm.xml:3: <vfioctl:group>: vfioctl's metadata element is <groups>, not <group>."],
    [`  <metadata><groups xmlns="https://vfioctl.dev/xmlns/libvirt/2"/></metadata>`, "vm.xml:3: <groups>: the namespace 'https://vfioctl.dev/xmlns/libvirt/2' is not one this vfioctl reads; it reads https://vfioctl.dev/xmlns/libvirt/1."],
    [`  <metadata><vfioctl:groups ${NS}/>\n<groups xmlns="${VFIOCTL_NS}"/></metadata>`, 'vm.xml:4: <groups>: a second vfioctl element in <metadata> (the first is at vm.xml:3); libvirt keeps one element per namespace.'],
    [`  <metadata><vfioctl:groups ${NS}>auto</vfioctl:groups></metadata>`, "vm.xml:3: <vfioctl:groups>: it contains text ('auto'); only <vfioctl:device> elements belong inside."],
    [`  <metadata><vfioctl:groups ${NS}><device address="0000:02:01.0" group="auto"/></vfioctl:groups></metadata>`, `vm.xml:3: <device>: <device> does not belong in vfioctl's <groups>: only <device address=… group=…/> entries in its namespace (${VFIOCTL_NS}) do.`],
    [one('address="0000:02:01.0"'), 'vm.xml:4: <vfioctl:device>: it has no group attribute; write group="auto" or group="manual".'],
    [one('address="0000:02:01.0" group="yes"'), 'vm.xml:4: <vfioctl:device>: group="yes" is not a group mode: use "auto" (move the whole IOMMU group) or "manual" (only the named device).'],
    [one('address="0000:02:01.0" group="auto" managed="yes"'), 'vm.xml:4: <vfioctl:device>: unknown attribute managed="yes"; <device> takes address, dev, group, domain, bus, slot, function.'],
    [one('address="2:1.0" group="auto"'), "vm.xml:4: <vfioctl:device>: Invalid PCI address '2:1.0'."],
    [one('address="0000:02:01.0" bus="2" group="auto"'), `vm.xml:4: <vfioctl:device>: name the device exactly one way: address="0000:02:01.0", libvirt's domain= bus= slot= function=, or dev="IFACE" (a hostdev network's pool member).`],
    [one('group="auto"'), `vm.xml:4: <vfioctl:device>: name the device exactly one way: address="0000:02:01.0", libvirt's domain= bus= slot= function=, or dev="IFACE" (a hostdev network's pool member).`],
    [one('bus="0x02" slot="0x01" group="auto"'), 'vm.xml:4: <vfioctl:device>: the PCI address has no function attribute.'],
    [one('dev="../eth0" group="auto"'), /^vm\.xml:4: <vfioctl:device>: Invalid interface name/],
    ['  <metadata/>\n  <metadata/>', 'vm.xml:4: <metadata>: a second <metadata> inside <domain>; libvirt reads exactly one.'],
  ])('%s', (m, expected) => {
    if (typeof expected === 'string') expect(err(m)).toBe(expected);
    else expect(err(m)).toMatch(expected);
  });
});
