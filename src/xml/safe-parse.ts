import { DOMParser, type Document } from '@xmldom/xmldom';
import { InputError, printable } from '../errors.js';

/**
 * Parses untrusted XML into a DOM, refusing what libvirt XML never contains and what attacks parsers:
 * DOCTYPE declarations (external entities, entity expansion), oversized input, very deep nesting.
 * Every warning and error of xmldom becomes an InputError with the line and column; nothing is dropped.
 */
export const MAX_XML_CHARS = 4 * 1024 * 1024;
export const MAX_DEPTH = 64;

function lineOf(text: string, index: number): number {
  let line = 1;
  for (let i = 0; i < index; i++) if (text.charCodeAt(i) === 10) line++;
  return line;
}

export function parseXmlSafely(text: string, file: string): Document {
  if (text.length > MAX_XML_CHARS) throw new InputError(`${file} is larger than ${MAX_XML_CHARS} characters (4 MiB); refusing it.`);
  const decl = /<!(DOCTYPE|ENTITY)/i.exec(text);
  if (decl) {
    throw new InputError(
      `${file}:${lineOf(text, decl.index)}: <!${decl[1]!.toUpperCase()}> declarations are not accepted (they can define entities that read files or expand without bound); libvirt XML never needs one.`,
    );
  }
   
  const nul = /\u0000/.exec(text);
  if (nul) throw new InputError(`${file}:${lineOf(text, nul.index)}: the file contains a NUL character; it is not XML text.`);
  checkDepth(text, file);
  const parser = new DOMParser({
    locator: true,
    onError: (level, message, context: { locator?: { lineNumber?: number; columnNumber?: number } } | undefined) => {
      const where = context?.locator?.lineNumber !== undefined ? `${file}:${context.locator.lineNumber}:${context.locator.columnNumber ?? 0}` : file;
      const what = level === 'warning' ? 'suspicious XML' : 'malformed XML';
      throw new InputError(`${where}: ${what}: ${printable(message.split('\n')[0] ?? message, 200)}`);
    },
  });
  let doc: Document;
  try {
    doc = parser.parseFromString(text, 'text/xml');
  } catch (err) {
    const cause = (err as { cause?: unknown }).cause;
    if (cause instanceof InputError) throw cause;
    if (err instanceof InputError) throw err;
    const loc = (err as { locator?: { lineNumber?: number; columnNumber?: number } }).locator;
    const where = loc?.lineNumber !== undefined ? `${file}:${loc.lineNumber}:${loc.columnNumber ?? 0}` : file;
    throw new InputError(`${where}: malformed XML: ${printable((err as Error).message.split('\n')[0] ?? '', 200)}`);
  }
  if (!doc.documentElement) throw new InputError(`${file}: there is no XML element in the file.`);
  return doc;
}

/** A cheap scan of tag nesting before the DOM is built, so a million nested elements never reach the parser. */
function checkDepth(text: string, file: string): void {
  let depth = 0;
  const tag = /<(\/?)([A-Za-z_][^\s/>]*)[^>]*?(\/?)>/g;
  for (let m = tag.exec(text); m; m = tag.exec(text)) {
    if (m[1]) depth--;
    else if (!m[3]) {
      depth++;
      if (depth > MAX_DEPTH) throw new InputError(`${file}:${lineOf(text, m.index)}: elements are nested more than ${MAX_DEPTH} deep; libvirt XML is never that deep.`);
    }
  }
}
