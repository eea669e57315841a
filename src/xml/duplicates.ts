import { formatAddress } from '../pci/address.js';
import type { Assignment, AssignmentTarget, LibvirtDocument } from './assignment.js';
import { fail } from './elements.js';

/**
 * The same device named twice in one document is refused from the text alone, before any host lookup, so the
 * answer does not depend on whether the device exists here (libvirt refuses such a file while parsing it too).
 * Two elements name the same device when they give the same PCI address (however the numbers were written) or,
 * in a hostdev network's pool, the same interface. What only the host can tell (an interface that is the device
 * an address also names, a pool member also named directly) stays with the plan's duplicate blocker.
 */
export function refuseDuplicates(doc: LibvirtDocument): LibvirtDocument {
  const first = new Map<string, Assignment>();
  for (const a of doc.assignments) {
    const key = targetKey(a.target);
    if (key === undefined) continue;
    const earlier = first.get(key.id);
    if (!earlier) {
      first.set(key.id, a);
      continue;
    }
    const e = earlier.source;
    fail(
      a.source,
      `${key.shown} is assigned a second time; the first <${e.element}> at ${e.file}:${e.line} names it already. libvirt refuses a ${doc.kind} that assigns one device twice.`,
      `Remove one of the two elements (${e.file}:${e.line} or ${a.source.file}:${a.source.line}).`,
    );
  }
  return doc;
}

function targetKey(t: AssignmentTarget): { id: string; shown: string } | undefined {
  if (t.type === 'address') return { id: `pci ${formatAddress(t.address)}`, shown: formatAddress(t.address) };
  if (t.type === 'netdev') return { id: `netdev ${t.dev}`, shown: `interface ${t.dev}` };
  return undefined;
}
