import type { Element } from '@xmldom/xmldom';
import { InputError, printable } from '../errors.js';
import { addressFromParts, formatAddress, parseLibvirtNumber, type PciAddress } from '../pci/address.js';
import type { SourceRef } from './assignment.js';

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

/**
 * `<address domain= bus= slot= function=/>` with libvirt's number rules (src/pci/address.ts readLibvirtNumber);
 * domain defaults to 0. Where a leading 0 made libvirt read a field as octal and that changes its value
 * (`010` is 8, not 10), a note saying so goes to `notes`: vfioctl names the device libvirt would, which may
 * not be the one the author meant.
 */
export function parsePciAddress(file: string, el: Element, notes?: string[]): PciAddress {
  const r = ref(file, el);
  const type = attr(el, 'type');
  if (type !== undefined && type !== 'pci') fail(r, `type='${printable(type, 40)}' is not a PCI address; vfioctl assigns PCI devices (type='pci').`);
  const at = where(r);
  const octal: string[] = [];
  const field = (name: 'domain' | 'bus' | 'slot' | 'function'): number => {
    const v = attr(el, name);
    if (v === undefined) {
      if (name === 'domain') return 0;
      return fail(r, `the PCI address has no ${name} attribute.`, `Write <address domain='0x0000' bus='0x06' slot='0x12' function='0x5'/>.`);
    }
    const n = parseLibvirtNumber(name, v, at);
    if (n.base === 8 && n.value >= 8) octal.push(`${name}='${printable(v, 20)}' is ${n.value} (0x${n.value.toString(16)}), not ${v.trim().replace(/^\+?0+/, '')}`);
    return n.value;
  };
  const address = addressFromParts(field('domain'), field('bus'), field('slot'), field('function'));
  if (octal.length > 0) {
    notes?.push(`${at}: a leading 0 makes libvirt read a number as octal: ${octal.join('; ')}. vfioctl names the device libvirt would, ${formatAddress(address)}; write hex (0x..) if you meant another.`);
  }
  return address;
}
