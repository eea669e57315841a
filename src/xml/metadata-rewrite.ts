import type { Element } from '@xmldom/xmldom';
import { formatAddress } from '../pci/address.js';
import type { Assignment, AssignmentTarget, GroupMode, LibvirtDocument } from './assignment.js';
import { parseLibvirtDocument } from './document.js';
import { assignedDeviceElements } from './domain.js';
import { attr, children, fail } from './elements.js';
import { parseGroupMetadata, VFIOCTL_NS } from './metadata.js';
import { attributeSpan, indentBefore, spansOf, type ElementSpan } from './text-spans.js';

/**
 * `vfioctl metadata FILE`: the same document with every `<driver group=>` of an assignment moved into vfioctl's
 * `<metadata>` element, so that it survives `virsh define` (libvirt drops the attribute, keeps the metadata).
 * A textual edit: the attribute spans are cut out, and the vfioctl element is inserted (into an existing
 * `<metadata>`, next to other applications' elements) or rebuilt when there is one; every other byte stays as the
 * user wrote it. A document without such attributes comes back unchanged.
 */
interface Entry {
  key: string; // address="0000:02:01.0" or dev="ens1f0"
  mode: GroupMode;
  source: Assignment['source'];
}

interface GroupsContent {
  defaultMode?: GroupMode;
  entries: Entry[];
}

interface Edit {
  from: number;
  to: number;
  insert: string;
}

export function moveGroupModesToMetadata(text: string, file: string): string {
  const { doc, root } = parseLibvirtDocument(text, file);
  const drivers = groupDrivers(root);
  if (drivers.length === 0) return text;
  const spans = spansOf(text, root);
  const edits: Edit[] = drivers.map((d) => {
    const cut = attributeSpan(text, spans.get(d)!, 'group')!;
    return { from: cut.from, to: cut.to, insert: '' };
  });
  const existing = parseGroupMetadata(root, file);
  edits.push(metadataEdit(text, root, spans, groupsContent(doc, existing?.defaultMode)));
  const out = applyEdits(text, edits);
  assertSameModes(doc, parseLibvirtDocument(out, file).doc);
  return out;
}

/** The `<driver>` elements whose group attribute an assignment took its mode from. */
function groupDrivers(root: Element): Element[] {
  let owners: Element[];
  if (root.tagName === 'network') owners = children(root, 'forward').filter((f) => attr(f, 'mode') === 'hostdev');
  else owners = assignedDeviceElements(root);
  return owners.flatMap((el) => children(el, 'driver')).filter((d) => attr(d, 'group') !== undefined);
}

/** One `default` when every assignment has the same mode the user chose, else an entry per device given one. */
function groupsContent(doc: LibvirtDocument, existingDefault: GroupMode | undefined): GroupsContent {
  const all = doc.assignments;
  if (all.length > 0 && all.every((a) => a.groupModeSource !== 'default' && a.groupMode === all[0]!.groupMode)) {
    return { defaultMode: all[0]!.groupMode, entries: [] };
  }
  const entries = new Map<string, Entry>();
  for (const a of all) {
    if (a.groupModeSource !== 'attribute' && a.groupModeSource !== 'metadata-device') continue;
    const key = keyOf(a.target);
    const seen = entries.get(key);
    if (!seen) entries.set(key, { key, mode: a.groupMode, source: a.source });
    else if (seen.mode !== a.groupMode) {
      fail(a.source, `this device is also assigned at ${seen.source.file}:${seen.source.line} with group='${seen.mode}', and here with group='${a.groupMode}'; the metadata can give it one mode.`);
    }
  }
  return { defaultMode: existingDefault, entries: [...entries.values()] };
}

function keyOf(t: AssignmentTarget): string {
  return t.type === 'address' ? `address="${formatAddress(t.address)}"` : `dev="${escapeAttribute(t.dev)}"`;
}

function escapeAttribute(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/"/g, '&quot;').replace(/</g, '&lt;');
}

interface Layout {
  nl: string;
  step: string;
}

/** `<vfioctl:groups …>` laid out at `indent` (undefined: all on one line, as the surrounding text is). */
function groupsElement(prefix: string | null, c: GroupsContent, indent: string | undefined, l: Layout): string {
  const q = prefix ? `${prefix}:` : '';
  const decl = prefix ? `xmlns:${prefix}="${VFIOCTL_NS}"` : `xmlns="${VFIOCTL_NS}"`;
  const head = `<${q}groups ${decl}${c.defaultMode ? ` default="${c.defaultMode}"` : ''}`;
  if (c.entries.length === 0) return `${head}/>`;
  const lead = indent === undefined ? '' : l.nl + indent + l.step;
  const devices = c.entries.map((e) => `${lead}<${q}device ${e.key} group="${e.mode}"/>`).join('');
  return `${head}>${devices}${indent === undefined ? '' : l.nl + indent}</${q}groups>`;
}

function layoutOf(text: string, root: Element, spans: Map<Element, ElementSpan>): Layout {
  const nl = text.includes('\r\n') ? '\r\n' : '\n';
  const rootIndent = indentBefore(text, spans.get(root)!.start) ?? '';
  const first = firstElement(root);
  const childIndent = first ? indentBefore(text, spans.get(first)!.start) : undefined;
  const step = childIndent !== undefined && childIndent.length > rootIndent.length && childIndent.startsWith(rootIndent) ? childIndent.slice(rootIndent.length) : '  ';
  return { nl, step };
}

function firstElement(el: Element): Element | undefined {
  for (let n = el.firstChild; n; n = n.nextSibling) if (n.nodeType === 1) return n as Element;
  return undefined;
}

const BEFORE_METADATA = ['name', 'uuid', 'genid', 'title', 'description'];

/** Where the vfioctl element goes: over the existing one, into `<metadata>`, or a new `<metadata>` after `<name>`. */
function metadataEdit(text: string, root: Element, spans: Map<Element, ElementSpan>, c: GroupsContent): Edit {
  const l = layoutOf(text, root, spans);
  const metadata = children(root, 'metadata')[0];
  const ours = metadata ? elementChildren(metadata).find((e) => e.namespaceURI === VFIOCTL_NS) : undefined;
  if (ours) {
    const s = spans.get(ours)!;
    return { from: s.start, to: s.end, insert: groupsElement(ours.prefix ?? null, c, indentBefore(text, s.start), l) };
  }
  if (metadata) return intoMetadata(text, spans.get(metadata)!, c, l);
  const anchor = elementChildren(root).filter((e) => BEFORE_METADATA.includes(e.tagName)).pop();
  const at = anchor ? spans.get(anchor)!.end : spans.get(root)!.startEnd;
  const next = anchor ?? firstElement(root);
  const indent = next ? indentBefore(text, spans.get(next)!.start) : undefined;
  if (indent === undefined) return { from: at, to: at, insert: `<metadata>${groupsElement('vfioctl', c, undefined, l)}</metadata>` };
  const inner = indent + l.step;
  return { from: at, to: at, insert: `${l.nl}${indent}<metadata>${l.nl}${inner}${groupsElement('vfioctl', c, inner, l)}${l.nl}${indent}</metadata>` };
}

function intoMetadata(text: string, s: ElementSpan, c: GroupsContent, l: Layout): Edit {
  const indent = indentBefore(text, s.start);
  const inner = indent === undefined ? undefined : indent + l.step;
  const el = groupsElement('vfioctl', c, inner, l);
  if (s.selfClosing) {
    const open = text.slice(s.start, s.startEnd).replace(/\s*\/>$/, '>');
    const body = inner === undefined ? el : `${l.nl}${inner}${el}${l.nl}${indent}`;
    return { from: s.start, to: s.end, insert: `${open}${body}</metadata>` };
  }
  if (inner === undefined) return { from: s.closeStart, to: s.closeStart, insert: el };
  const closeIndent = indentBefore(text, s.closeStart);
  if (closeIndent !== undefined) {
    const lineStart = s.closeStart - closeIndent.length;
    return { from: lineStart, to: lineStart, insert: `${inner}${el}${l.nl}` };
  }
  return { from: s.closeStart, to: s.closeStart, insert: `${l.nl}${inner}${el}${l.nl}${indent}` };
}

function elementChildren(el: Element): Element[] {
  const out: Element[] = [];
  for (let n = el.firstChild; n; n = n.nextSibling) if (n.nodeType === 1) out.push(n as Element);
  return out;
}

/** The edits (not overlapping) applied in one pass: a 4 MiB file may have thousands of attributes to cut. */
function applyEdits(text: string, edits: Edit[]): string {
  const parts: string[] = [];
  let pos = 0;
  for (const e of [...edits].sort((a, b) => a.from - b.from)) {
    parts.push(text.slice(pos, e.from), e.insert);
    pos = e.to;
  }
  parts.push(text.slice(pos));
  return parts.join('');
}

/** The rewrite must not change what any device gets; if it would, that is a bug here, not the user's. */
function assertSameModes(before: LibvirtDocument, after: LibvirtDocument): void {
  const modes = (d: LibvirtDocument): string => d.assignments.map((a) => a.groupMode).join(',');
  if (modes(before) !== modes(after)) throw new Error(`moving the group modes into the metadata changed them (${modes(before)} → ${modes(after)})`);
}
