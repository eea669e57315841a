import type { Element } from '@xmldom/xmldom';
import xpath from 'xpath';
import { InputError, printable } from '../errors.js';
import { parseInterfaceName, type InterfaceName } from '../host/interface-name.js';
import { addressFromParts, parseLibvirtNumber, type PciAddress } from '../pci/address.js';
import type { GroupMode, SourceRef } from './assignment.js';

/**
 * Reading the pieces libvirt's parser reads, with its rules and its messages: `managed`, `<driver name= group=>`,
 * a PCI `<address>`, an interface name. Every error is an InputError prefixed with FILE:LINE: <element>:.
 */
export function ref(file: string, el: Element): SourceRef {
  return { file, line: el.lineNumber ?? 0, element: el.tagName };
}

export function where(r: SourceRef): string {
  return `${r.file}:${r.line}: <${r.element}>`;
}

export function fail(r: SourceRef, message: string, hint?: string): never {
  throw new InputError(`${where(r)}: ${message}`, hint);
}

export function children(el: Element, name: string): Element[] {
  const out: Element[] = [];
  for (let n = el.firstChild; n; n = n.nextSibling) if (n.nodeType === 1 && (n as Element).tagName === name) out.push(n as Element);
  return out;
}

export function onlyChild(file: string, el: Element, name: string, required: boolean): Element | undefined {
  const list = children(el, name);
  if (list.length > 1) fail(ref(file, list[1]!), `a second <${name}> inside <${el.tagName}>; libvirt reads exactly one.`);
  if (required && list.length === 0) fail(ref(file, el), `it has no <${name}> element.`);
  return list[0];
}

export function attr(el: Element, name: string): string | undefined {
  return el.hasAttribute(name) ? el.getAttribute(name) ?? '' : undefined;
}

/** managed='yes'|'no' (absent: no). */
export function parseManaged(r: SourceRef, el: Element): boolean {
  const v = attr(el, 'managed');
  if (v === undefined || v === 'no') return false;
  if (v === 'yes') return true;
  return fail(r, `managed='${printable(v, 40)}' is not valid: use managed='yes' or managed='no'.`);
}

export interface DriverSpec {
  name: 'vfio' | 'kvm' | 'xen' | undefined;
  groupMode: GroupMode;
  groupModeExplicit: boolean;
}

/**
 * `<driver name= group=>` of a hostdev, an interface or a network's forward (the seed's RNG: group is an
 * optional attribute inside the `name='vfio'` choice; values manual | auto; no attribute means manual).
 */
export function parseDriver(file: string, driver: Element | undefined, unknownGroup: (value: string) => string): DriverSpec {
  if (!driver) return { name: undefined, groupMode: 'manual', groupModeExplicit: false };
  const r = ref(file, driver);
  const nameText = attr(driver, 'name');
  let name: DriverSpec['name'];
  if (nameText !== undefined) {
    if (nameText !== 'vfio' && nameText !== 'kvm' && nameText !== 'xen') {
      fail(r, `unknown driver name='${printable(nameText, 40)}': libvirt knows 'vfio', 'kvm' and 'xen'.`);
    }
    name = nameText;
  }
  const group = attr(driver, 'group');
  if (group === undefined) return { name, groupMode: 'manual', groupModeExplicit: false };
  // The seed's parser: anything but manual/auto, the literal "default" included, is rejected with its message.
  if (group !== 'manual' && group !== 'auto') fail(r, unknownGroup(printable(group, 40)));
  if (name !== 'vfio') {
    fail(r, `group='${group}' is only allowed with <driver name='vfio'/> (the group attribute belongs to VFIO assignment)${name ? `, not name='${name}'` : ''}.`, `Write <driver name='vfio' group='${group}'/>.`);
  }
  return { name, groupMode: group, groupModeExplicit: true };
}

/** `<address domain= bus= slot= function=/>` with libvirt's number rules; domain defaults to 0. */
export function parsePciAddress(file: string, el: Element): PciAddress {
  const r = ref(file, el);
  const type = attr(el, 'type');
  if (type !== undefined && type !== 'pci') fail(r, `type='${printable(type, 40)}' is not a PCI address; vfioctl assigns PCI devices (type='pci').`);
  const at = where(r);
  const field = (name: 'domain' | 'bus' | 'slot' | 'function'): number => {
    const v = attr(el, name);
    if (v === undefined) {
      if (name === 'domain') return 0;
      return fail(r, `the PCI address has no ${name} attribute.`, `Write <address domain='0x0000' bus='0x06' slot='0x12' function='0x5'/>.`);
    }
    return parseLibvirtNumber(name, v, at);
  };
  return addressFromParts(field('domain'), field('bus'), field('slot'), field('function'));
}

export function parseDev(file: string, el: Element): InterfaceName {
  const r = ref(file, el);
  const dev = attr(el, 'dev');
  if (dev === undefined) fail(r, `it has no dev attribute (the network interface's name).`);
  return parseInterfaceName(dev, `${where(r)}: interface name`);
}

/** xpath's typings speak the browser DOM; xmldom's nodes are structurally the same for what it reads. */
export function selectElements(expr: string, root: Element): Element[] {
  return xpath.select(expr, root as unknown as Node) as unknown as Element[];
}
export function selectString(expr: string, root: Element): string {
  return String(xpath.select(expr, root as unknown as Node));
}
