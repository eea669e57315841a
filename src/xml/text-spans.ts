import type { Element } from '@xmldom/xmldom';
import { scanTags } from './safe-parse.js';

/**
 * Where each element of a document sits in its text, so that an edit can change one attribute or insert one
 * element and leave every other byte as the user wrote it (a DOM serializer would re-quote, re-indent and
 * re-order). The scan reads the text the way src/xml/safe-parse.ts's nesting check does: comments, CDATA and
 * processing instructions skipped, quoted attribute values read whole. It is run only on text the parser has
 * accepted, and its elements are paired with the DOM's in document order.
 */
export interface ElementSpan {
  name: string;
  /** Index of the '<' of the start tag. */
  start: number;
  /** Index just after the start tag's '>'. */
  startEnd: number;
  /** Index of the '<' of the end tag; equal to startEnd for an empty-element tag (`<x/>`). */
  closeStart: number;
  /** Index just after the element (its end tag, or its empty-element tag). */
  end: number;
  selfClosing: boolean;
}

export function scanElements(text: string): ElementSpan[] {
  const out: ElementSpan[] = [];
  const open: ElementSpan[] = [];
  scanTags(text, (kind, start, after) => {
    if (kind === 'end') {
      const span = open.pop();
      if (span) {
        span.closeStart = start;
        span.end = after;
      }
      return;
    }
    const selfClosing = text.charCodeAt(after - 2) === 0x2f; /* '/' */
    const name = /^[^\s/>]+/.exec(text.slice(start + 1, after - 1))?.[0] ?? '';
    const span: ElementSpan = { name, start, startEnd: after, closeStart: after, end: after, selfClosing };
    out.push(span);
    if (!selfClosing) open.push(span);
  });
  return out;
}

/** The DOM's elements in document order, each with its span; a mismatch is a bug in the scan, not the user's. */
export function spansOf(text: string, root: Element): Map<Element, ElementSpan> {
  const spans = scanElements(text);
  const map = new Map<Element, ElementSpan>();
  let k = 0;
  const walk = (el: Element): void => {
    const span = spans[k++];
    if (!span || span.name !== el.tagName) throw new Error(`the text scan disagrees with the parser at <${el.tagName}> (element ${k})`);
    map.set(el, span);
    for (let n = el.firstChild; n; n = n.nextSibling) if (n.nodeType === 1) walk(n as Element);
  };
  walk(root);
  if (k !== spans.length) throw new Error(`the text scan found ${spans.length} elements, the parser ${k}`);
  return map;
}

/** The span of ` name='value'` (with the whitespace before it) inside a start tag, or undefined. */
export function attributeSpan(text: string, tag: ElementSpan, name: string): { from: number; to: number } | undefined {
  const re = /(\s+)([^\s=/>]+)(\s*=\s*)("[^"]*"|'[^']*')/g;
  re.lastIndex = tag.start + 1 + tag.name.length;
  for (let m = re.exec(text); m && m.index < tag.startEnd; m = re.exec(text)) {
    if (m[2] === name) return { from: m.index, to: m.index + m[0].length };
  }
  return undefined;
}

/** The whitespace before `index` on its line, when only whitespace precedes it there; undefined otherwise. */
export function indentBefore(text: string, index: number): string | undefined {
  const lineStart = text.lastIndexOf('\n', index - 1) + 1;
  const lead = text.slice(lineStart, index);
  return /^[ \t]*$/.test(lead) ? lead : undefined;
}
