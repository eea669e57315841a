import { XMLSerializer, type Element } from '@xmldom/xmldom';
import { InputError, printable } from '../errors.js';
import type { Owner } from '../plan/ownership.js';
import { parseLibvirtXml, type LibvirtDocument } from '../xml/index.js';
import { children } from '../xml/elements.js';
import { parseXmlSafely } from '../xml/safe-parse.js';

/**
 * What a hook reads from libvirt's XML: who it is for (the <name> and <uuid> libvirt puts in every domain
 * and network it hands a hook) and, when it has to act, the whole document through the XML front end
 * (src/xml), so that group modes are read exactly as `detach` reads them.
 */
function textOf(root: Element, name: string): string {
  return children(root, name)[0]?.textContent?.trim() ?? '';
}

function ownerOf(kind: Owner['kind'], root: Element, fallbackName: string): Owner {
  return { kind, uuid: textOf(root, 'uuid').toLowerCase(), name: textOf(root, 'name') || fallbackName };
}

/**
 * Who a libvirt XML file is, as the hook records an owner: its `<domain>` or `<network>` with the `<uuid>` and
 * `<name>` libvirt gives every definition (a hand-written file may have no uuid: then the name decides, as in
 * sameOwner). `text` is the file `doc` was parsed from. For `reattach FILE` by hand; here, not in src/plan, so
 * that list and group-info (which read owners from the journal) do not load the XML parser.
 */
export function ownerOfDocument(text: string, doc: LibvirtDocument): Owner {
  const root = parseXmlSafely(text, doc.file).documentElement;
  return { kind: doc.kind, uuid: root ? textOf(root, 'uuid').toLowerCase() : '', name: doc.name };
}

/** The domain on a qemu hook's stdin: its owner record, and a parser for the whole document. */
export function readDomainInput(text: string, argvName: string): { owner: Owner; document: () => LibvirtDocument } {
  // One name for stdin in every message, `domain 'NAME':LINE`: the XML is the domain's, and the name is what
  // the user runs `virsh edit` or `virsh metadata` on (libvirt passes it as the hook's first argument).
  const label = `domain '${printable(argvName)}'`;
  const root = parseXmlSafely(text, label).documentElement!;
  if (root.tagName !== 'domain') throw new InputError(`The qemu hook's standard input is <${printable(root.tagName)}>, not libvirt's <domain> XML.`);
  return { owner: ownerOf('domain', root, argvName), document: () => parseLibvirtXml(text, label) };
}

/**
 * The network inside a network hook's `<hookData>` (libvirt's docs/hooks.rst, "Script arguments"): its owner
 * record, and a parser for the network element alone, given to the XML front end as a document of its own.
 */
export function readNetworkInput(text: string, argvName: string): { owner: Owner; document: () => LibvirtDocument } {
  const label = `the hook data of network '${printable(argvName)}'`;
  const root = parseXmlSafely(text, label).documentElement!;
  const network = root.tagName === 'network' ? root : root.tagName === 'hookData' ? children(root, 'network')[0] : undefined;
  if (!network) throw new InputError(`${label} has no <network> element: libvirt hands a network hook <hookData><network>…</network></hookData>.`);
  const owner = ownerOf('network', network, argvName);
  const xml = new XMLSerializer().serializeToString(network);
  return { owner, document: () => parseLibvirtXml(xml, `network '${printable(owner.name)}'`) };
}
