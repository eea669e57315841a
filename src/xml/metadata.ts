import type { Attr, Element } from '@xmldom/xmldom';
import { InputError, printable } from '../errors.js';
import { parseInterfaceName, type InterfaceName } from '../host/interface-name.js';
import { parseAddress, type PciAddress } from '../pci/address.js';
import type { GroupMode, SourceRef } from './assignment.js';
import { attr, fail, onlyChild, parsePciAddress, ref } from './elements.js';

/**
 * vfioctl's element in libvirt's `<metadata>`, which libvirt keeps verbatim (one top-level element per
 * namespace, in a namespace of the application's own):
 *
 *   <vfioctl:groups xmlns:vfioctl="https://vfioctl.dev/xmlns/libvirt/1" default="auto">
 *     <vfioctl:device address="0000:02:01.0" group="manual"/>
 *   </vfioctl:groups>
 *
 * The namespace is versioned by its last segment; this vfioctl reads version 1 and refuses others. Elements are
 * matched by namespace URI, never by prefix (`virsh metadata --key` picks the prefix). Everything is checked:
 * an unknown attribute, element or value is an InputError at its FILE:LINE.
 */
export const VFIOCTL_NS = 'https://vfioctl.dev/xmlns/libvirt/1';
const NS_FAMILY = 'https://vfioctl.dev/xmlns/libvirt/';
const XMLNS_NS = 'http://www.w3.org/2000/xmlns/';
const FORM_HINT = `Write <vfioctl:groups xmlns:vfioctl="${VFIOCTL_NS}" default="auto"><vfioctl:device address="0000:02:01.0" group="manual"/></vfioctl:groups> inside <metadata>.`;

export type MetadataTarget = { type: 'address'; address: PciAddress } | { type: 'dev'; dev: InterfaceName };

export interface MetadataDevice {
  source: SourceRef;
  target: MetadataTarget;
  mode: GroupMode;
}

export interface GroupMetadata {
  /** The `<vfioctl:groups>` element. */
  source: SourceRef;
  defaultMode?: GroupMode;
  devices: MetadataDevice[];
}

/** The vfioctl element of a domain's or network's `<metadata>`, or undefined when there is none. */
export function parseGroupMetadata(root: Element, file: string): GroupMetadata | undefined {
  const metadata = onlyChild(file, root, 'metadata', false);
  if (!metadata) return undefined;
  const ours = vfioctlElements(metadata, file);
  if (ours.length === 0) return undefined;
  if (ours.length > 1) {
    fail(
      ref(file, ours[1]!),
      `a second vfioctl element in <metadata> (the first is at ${file}:${ours[0]!.lineNumber}); libvirt keeps one element per namespace.`,
      'Merge them into one <vfioctl:groups> element.',
    );
  }
  return parseGroups(ours[0]!, file);
}

/** Children of <metadata> in any version of vfioctl's namespace; a version this vfioctl does not read is an error. */
function vfioctlElements(metadata: Element, file: string): Element[] {
  const out: Element[] = [];
  for (let n = metadata.firstChild; n; n = n.nextSibling) {
    if (n.nodeType !== 1) continue;
    const el = n as Element;
    const ns = el.namespaceURI ?? '';
    if (!ns.startsWith(NS_FAMILY)) continue;
    if (ns !== VFIOCTL_NS) {
      fail(ref(file, el), `the namespace '${printable(ns)}' is not one this vfioctl reads; it reads ${VFIOCTL_NS}.`, 'Upgrade vfioctl, or write the element in the namespace above.');
    }
    out.push(el);
  }
  return out;
}

function parseGroups(el: Element, file: string): GroupMetadata {
  const r = ref(file, el);
  if (el.localName !== 'groups') fail(r, `vfioctl's metadata element is <groups>, not <${printable(el.localName ?? '')}>.`, FORM_HINT);
  checkAttributes(r, el, ['default']);
  const defaultText = attr(el, 'default');
  const defaultMode = defaultText === undefined ? undefined : groupMode(r, 'default', defaultText);
  const devices: MetadataDevice[] = [];
  for (let n = el.firstChild; n; n = n.nextSibling) {
    if (n.nodeType === 3 && (n.nodeValue ?? '').trim() !== '') fail(r, `it contains text ('${printable((n.nodeValue ?? '').trim(), 40)}'); only <vfioctl:device> elements belong inside.`, FORM_HINT);
    if (n.nodeType === 4) fail(r, 'it contains a CDATA section; only <vfioctl:device> elements belong inside.', FORM_HINT);
    if (n.nodeType !== 1) continue;
    const child = n as Element;
    if (child.namespaceURI !== VFIOCTL_NS || child.localName !== 'device') {
      fail(ref(file, child), `<${printable(child.tagName)}> does not belong in vfioctl's <groups>: only <device address=… group=…/> entries in its namespace (${VFIOCTL_NS}) do.`, FORM_HINT);
    }
    devices.push(parseDevice(child, file));
  }
  return { source: r, ...(defaultMode ? { defaultMode } : {}), devices };
}

const ADDRESS_PARTS = ['domain', 'bus', 'slot', 'function'];

/** `<device address='0000:02:01.0'>`, libvirt's `domain= bus= slot= function=`, or (a network pool member) `dev='IFACE'`. */
function parseDevice(el: Element, file: string): MetadataDevice {
  const r = ref(file, el);
  checkAttributes(r, el, ['address', 'dev', 'group', ...ADDRESS_PARTS]);
  const groupText = attr(el, 'group');
  if (groupText === undefined) fail(r, 'it has no group attribute; write group="auto" or group="manual".', FORM_HINT);
  const mode = groupMode(r, 'group', groupText);
  const given = [attr(el, 'address') !== undefined, attr(el, 'dev') !== undefined, ADDRESS_PARTS.some((p) => attr(el, p) !== undefined)];
  if (given.filter(Boolean).length !== 1) {
    fail(r, 'name the device exactly one way: address="0000:02:01.0", libvirt\'s domain= bus= slot= function=, or dev="IFACE" (a hostdev network\'s pool member).', FORM_HINT);
  }
  return { source: r, target: deviceTarget(r, el, file), mode };
}

function deviceTarget(r: SourceRef, el: Element, file: string): MetadataTarget {
  const address = attr(el, 'address');
  const dev = attr(el, 'dev');
  try {
    if (address !== undefined) return { type: 'address', address: parseAddress(address) };
    if (dev !== undefined) return { type: 'dev', dev: parseInterfaceName(dev, 'interface name') };
  } catch (err) {
    if (err instanceof InputError) fail(r, err.message, err.hint);
    throw err;
  }
  return { type: 'address', address: parsePciAddress(file, el) };
}

function groupMode(r: SourceRef, name: string, value: string): GroupMode {
  if (value === 'auto' || value === 'manual') return value;
  return fail(r, `${name}="${printable(value, 40)}" is not a group mode: use "auto" (move the whole IOMMU group) or "manual" (only the named device).`);
}

/** Only the named attributes (unprefixed) and namespace declarations; anything else is a typo to report. */
function checkAttributes(r: SourceRef, el: Element, allowed: string[]): void {
  for (let i = 0; i < el.attributes.length; i++) {
    const a = el.attributes.item(i) as Attr;
    if (a.namespaceURI === XMLNS_NS) continue;
    if (a.namespaceURI === null && allowed.includes(a.name)) continue;
    fail(r, `unknown attribute ${printable(a.name, 40)}="${printable(a.value, 40)}"; <${el.localName}> takes ${allowed.join(', ')}.`, FORM_HINT);
  }
}
