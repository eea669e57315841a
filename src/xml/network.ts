import type { Element } from '@xmldom/xmldom';
import { printable } from '../errors.js';
import type { Assignment, AssignmentTarget, LibvirtDocument } from './assignment.js';
import { attr, children, onlyChild, parseDev, parseDriver, parseManaged, parsePciAddress, ref, selectString } from './elements.js';

/**
 * A libvirt network. Only `<forward mode='hostdev'>` assigns devices: its pool is `<pf dev=…>` (every VF
 * of that PF), `<address type='pci' …/>` entries or `<interface dev=…>` entries. Each pool entry becomes
 * one assignment carrying the forward's managed, driver and group.
 */
export function parseNetwork(root: Element, file: string): LibvirtDocument {
  const name = selectString('string(/network/name)', root).trim();
  const forward = onlyChild(file, root, 'forward', false);
  if (!forward) return { kind: 'network', name, file, assignments: [], notHandled: [], forwardMode: 'none' };
  const mode = attr(forward, 'mode') ?? 'nat';
  if (mode !== 'hostdev') return { kind: 'network', name, file, assignments: [], notHandled: [], forwardMode: printable(mode, 40) };
  const r = ref(file, forward);
  const managed = parseManaged(r, forward);
  const driver = parseDriver(file, onlyChild(file, forward, 'driver', false), (v) => `Unknown forward <driver group='${v}'/> in network ${name}`);
  const assignments: Assignment[] = [];
  const add = (el: Element, target: AssignmentTarget): void => {
    assignments.push({ kind: 'network', source: ref(file, el), managed, driverName: driver.name, groupMode: driver.groupMode, groupModeExplicit: driver.groupModeExplicit, target });
  };
  for (const pf of children(forward, 'pf')) add(pf, { type: 'pf', dev: parseDev(file, pf) });
  for (const a of children(forward, 'address')) add(a, { type: 'address', address: parsePciAddress(file, a) });
  for (const i of children(forward, 'interface')) add(i, { type: 'netdev', dev: parseDev(file, i) });
  return { kind: 'network', name, file, assignments, notHandled: [], forwardMode: 'hostdev' };
}
