import type { Element } from '@xmldom/xmldom';
import { InputError, printable } from '../errors.js';
import { parseInterfaceName, type InterfaceName } from '../pci/interface-name.js';
import type { Assignment, AssignmentTarget, LibvirtDocument, SourceRef } from './assignment.js';
import { networkDriverMessages, parseDriverElement } from './driver-element.js';
import { attr, children, fail, onlyChild, parseManaged, parsePciAddress, ref } from './elements.js';

/**
 * A libvirt network. Only `<forward mode='hostdev'>` assigns devices; its pool is one `<pf dev=…>` (every VF
 * of that PF), `<address type='pci' …/>` entries, or `<interface dev=…>` entries (and `<forward dev=…>` as
 * the first interface), never a mix: libvirt's virNetworkForwardDefParseXML refuses mixed pools, and so do we.
 * Each pool entry becomes one assignment carrying the forward's managed, driver and group.
 */
const FORWARD_MODES = ['none', 'nat', 'route', 'open', 'bridge', 'private', 'vepa', 'passthrough', 'hostdev'];

export function parseNetwork(root: Element, file: string): LibvirtDocument {
  const name = children(root, 'name')[0]?.textContent?.trim() ?? '';
  const shownName = name === '' ? '(no <name>)' : printable(name);
  const base = { kind: 'network' as const, name, file, notHandled: [] };
  const forward = onlyChild(file, root, 'forward', false);
  if (!forward) return { ...base, assignments: [], forwardMode: 'none' };
  const r = ref(file, forward);
  const mode = attr(forward, 'mode') ?? 'nat'; // libvirt's default for a <forward> without mode
  if (!FORWARD_MODES.includes(mode)) {
    fail(r, `unknown forward mode='${printable(mode)}' in network ${shownName}: libvirt knows ${FORWARD_MODES.map((m) => `'${m}'`).join(', ')}.`);
  }
  // libvirt's parser (in the proposal) reads <driver name= group=> whatever the mode, so a bad value is refused
  // even where nothing is assigned (docs/group-modes.md).
  const driver = parseDriverElement(file, onlyChild(file, forward, 'driver', false), networkDriverMessages(shownName));
  if (mode !== 'hostdev') return { ...base, assignments: [], forwardMode: mode };
  const managed = parseManaged(r, forward);
  const readingNotes: string[] = [];
  const assignments: Assignment[] = poolOf(file, forward, shownName, readingNotes).map(([el, target]) => ({
    kind: 'network',
    source: ref(file, el),
    managed,
    driverName: driver.name,
    groupMode: driver.groupMode,
    groupModeExplicit: driver.groupModeExplicit,
    groupModeSource: driver.groupModeExplicit ? ('attribute' as const) : ('default' as const),
    groupModeRef: driver.groupModeRef,
    target,
  }));
  return { ...base, assignments, forwardMode: 'hostdev', ...(readingNotes.length > 0 ? { readingNotes } : {}) };
}

/** The pool of a hostdev network, entry by entry, with libvirt's rules on what may be combined. */
function poolOf(file: string, forward: Element, network: string, readingNotes: string[]): [Element, AssignmentTarget][] {
  const r = ref(file, forward);
  const pfs = children(forward, 'pf');
  const addresses = children(forward, 'address');
  const interfaces = children(forward, 'interface');
  if ([pfs, addresses, interfaces].filter((list) => list.length > 0).length > 1) {
    fail(r, `<address>, <interface> and <pf> elements in <forward> of network ${network} are mutually exclusive; libvirt refuses a pool that mixes them.`);
  }
  const forwardDev = attr(forward, 'dev');
  if (forwardDev !== undefined && (pfs.length > 0 || addresses.length > 0)) {
    fail(r, `the dev attribute of <forward> cannot be used with <address> or <pf> elements (network ${network}).`);
  }
  if (pfs.length > 1) fail(ref(file, pfs[1]!), `only one <pf> element is allowed in <forward> of network ${network}.`);
  if (pfs[0]) return [[pfs[0], { type: 'pf', dev: devOf(file, pfs[0]) }]];
  if (addresses.length > 0) {
    return addresses.map((a) => {
      const t = attr(a, 'type');
      if (t === undefined) fail(ref(file, a), `it has no type attribute; a network's pool names PCI devices as <address type='pci' .../>.`);
      return [a, { type: 'address', address: parsePciAddress(file, a, readingNotes) }];
    });
  }
  const devs = interfaces.map((i) => devOf(file, i));
  if (forwardDev !== undefined) {
    // libvirt: <forward dev='x'> is the first interface of the pool; an <interface> list must start with the same name.
    const dev = interfaceName(r, forwardDev);
    if (interfaces.length === 0) return [[forward, { type: 'netdev', dev }]];
    if (devs[0] !== dev) fail(ref(file, interfaces[0]!), `<forward dev='${dev}'> must match the first <interface dev='${devs[0]}'/> in network ${network}.`);
  }
  if (interfaces.length === 0) {
    fail(r, `network ${network} has <forward mode='hostdev'> but no <pf>, <address> or <interface> element: there is no device to assign.`);
  }
  return interfaces.map((i, k) => [i, { type: 'netdev', dev: devs[k]! }]);
}

function devOf(file: string, el: Element): InterfaceName {
  const r = ref(file, el);
  const dev = attr(el, 'dev');
  if (dev === undefined) fail(r, `it has no dev attribute (the name of a host network interface, e.g. dev='ens1f0').`);
  return interfaceName(r, dev);
}

/** The kernel's rules for an interface name, with the element's FILE:LINE: <element>: prefix on the message. */
function interfaceName(r: SourceRef, text: string): InterfaceName {
  try {
    return parseInterfaceName(text, 'interface name');
  } catch (err) {
    if (err instanceof InputError) fail(r, err.message, err.hint);
    throw err;
  }
}
