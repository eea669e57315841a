import { DOMParser, type Document } from '@xmldom/xmldom';
import { InputError, printable } from '../errors.js';

/**
 * Parses untrusted XML into a DOM, refusing what libvirt XML never contains and what attacks parsers:
 * DOCTYPE and ENTITY declarations (external entities, entity expansion), oversized input, characters XML
 * does not allow, very deep nesting. Every warning and error of xmldom becomes an InputError with the line
 * and column; nothing is dropped and nothing is repaired.
 */
export const MAX_XML_CHARS = 4 * 1024 * 1024;
export const MAX_DEPTH = 64;

export function parseXmlSafely(text: string, file: string): Document {
  if (text.length > MAX_XML_CHARS) {
    throw new InputError(`${file} is larger than ${MAX_XML_CHARS} characters (4 MiB); vfioctl refuses it.`, 'A domain or network definition is a few kilobytes; check that this is the file you meant.');
  }
  // A byte-order mark is legal at the very start; xmldom would call it content outside the root element.
  const body = text.charCodeAt(0) === 0xfeff ? text.slice(1) : text;
  refuseDeclarations(body, file);
  refuseForbiddenCharacters(body, file);
  checkNesting(body, file);
  return parseWithXmldom(body, file);
}

function lineOf(text: string, index: number): number {
  let line = 1;
  for (let i = text.indexOf('\n'); i !== -1 && i < index; i = text.indexOf('\n', i + 1)) line++;
  return line;
}

/** Checked on the raw text, before any parser sees it: xmldom would otherwise record a DTD and expand its entities. */
function refuseDeclarations(text: string, file: string): void {
  const decl = /<!(DOCTYPE|ENTITY)/i.exec(text);
  if (!decl) return;
  throw new InputError(
    `${file}:${lineOf(text, decl.index)}: <!${decl[1]!.toUpperCase()}> declarations are not accepted (they can define entities that read files or expand without bound); libvirt XML never needs one.`,
  );
}

// XML 1.0 `Char`: tab, newline, carriage return, and everything from U+0020 except surrogates, U+FFFE and U+FFFF.
// With the u flag a lone surrogate is one code point and falls outside the class.
const NOT_XML_CHAR = /[^\t\n\r\u{20}-\u{D7FF}\u{E000}-\u{FFFD}\u{10000}-\u{10FFFF}]/u;
const CHAR_REF = /&#(?:x([0-9a-fA-F]+)|([0-9]+));/g;

const isXmlChar = (cp: number): boolean =>
  cp === 0x9 || cp === 0xa || cp === 0xd || (cp >= 0x20 && cp <= 0xd7ff) || (cp >= 0xe000 && cp <= 0xfffd) || (cp >= 0x10000 && cp <= 0x10ffff);

const codePoint = (cp: number): string => `U+${cp.toString(16).toUpperCase().padStart(4, '0')}`;

/**
 * Characters XML forbids, written directly or as character references (`&#0;`): xmldom accepts both and would
 * hand a NUL or a lone surrogate on to us. Refusing them here means no attribute value can carry one.
 */
function refuseForbiddenCharacters(text: string, file: string): void {
  const bad = NOT_XML_CHAR.exec(text);
  if (bad) {
    const cp = bad[0].codePointAt(0)!;
    const at = `${file}:${lineOf(text, bad.index)}`;
    if (cp === 0) throw new InputError(`${at}: the file contains a NUL character; it is not XML text.`);
    throw new InputError(`${at}: the file contains the character ${codePoint(cp)}, which XML does not allow; it is not XML text.`);
  }
  for (const m of text.matchAll(CHAR_REF)) {
    const cp = m[1] !== undefined ? parseInt(m[1], 16) : parseInt(m[2]!, 10);
    if (!isXmlChar(cp)) {
      const shown = Number.isSafeInteger(cp) && cp <= 0x10ffff ? codePoint(cp) : 'no Unicode character';
      throw new InputError(`${file}:${lineOf(text, m.index)}: the character reference ${printable(m[0], 40)} stands for ${shown}, which XML does not allow.`);
    }
  }
}

/** Counts element nesting on the raw text (scanTags), so a million nested elements never reach the parser. */
function checkNesting(text: string, file: string): void {
  let depth = 0;
  scanTags(text, (kind, start, after) => {
    if (kind === 'end') depth--;
    else if (text.charCodeAt(after - 2) !== 0x2f /* '/' */ && ++depth > MAX_DEPTH) {
      throw new InputError(`${file}:${lineOf(text, start)}: elements are nested more than ${MAX_DEPTH} deep; libvirt XML is never that deep.`);
    }
  });
}

/**
 * Visits the start tags (`<x …>`, `<x …/>`) and end tags (`</x>`) of a document's raw text in order, with the
 * index of each tag's '<' and the index just after its '>'. It skips comments, CDATA sections and processing
 * instructions, and reads quoted attribute values whole (they may contain '>'), so it agrees with the parser on
 * every document the parser accepts. It stops at anything unterminated (the parser reports it with its
 * position): a start tag without '>' is not visited; an end tag without '>' is, with `after` -1.
 */
export function scanTags(text: string, visit: (kind: 'start' | 'end', start: number, after: number) => void): void {
  let i = text.indexOf('<');
  while (i !== -1) {
    let next: number;
    if (text.startsWith('<!--', i)) next = skipPast(text, '-->', i + 4);
    else if (text.startsWith('<![CDATA[', i)) next = skipPast(text, ']]>', i + 9);
    else if (text.startsWith('<?', i)) next = skipPast(text, '?>', i + 2);
    else if (text.startsWith('</', i)) {
      next = skipPast(text, '>', i + 2);
      visit('end', i, next);
    } else {
      const end = endOfTag(text, i + 1);
      if (end === -1) return;
      next = end + 1;
      visit('start', i, next);
    }
    if (next === -1) return;
    i = text.indexOf('<', next);
  }
}

function skipPast(text: string, terminator: string, from: number): number {
  const at = text.indexOf(terminator, from);
  return at === -1 ? -1 : at + terminator.length;
}

/** The index of the '>' that closes a start tag, reading quoted attribute values whole; -1 when there is none. */
function endOfTag(text: string, from: number): number {
  let quote = 0;
  for (let j = from; j < text.length; j++) {
    const c = text.charCodeAt(j);
    if (quote) {
      if (c === quote) quote = 0;
    } else if (c === 0x22 || c === 0x27) quote = c;
    else if (c === 0x3e) return j;
  }
  return -1;
}

interface Problem {
  message: string;
  line: number | undefined;
  column: number | undefined;
}

interface Located {
  locator?: { lineNumber?: number; columnNumber?: number };
}

function positionOf(context: unknown): Pick<Problem, 'line' | 'column'> {
  const loc = (context as Located | undefined)?.locator;
  const line = loc?.lineNumber;
  return line !== undefined && line > 0 ? { line, column: loc?.columnNumber } : { line: undefined, column: undefined };
}

/**
 * xmldom reports problems through onError at three levels and only throws for 'fatalError'; it wraps anything
 * thrown from onError in a ParseError whose message repeats ours. So onError remembers the first problem and
 * stops the parse, and the InputError is built here, once, from what it remembered.
 */
function parseWithXmldom(text: string, file: string): Document {
  let problem: Problem | undefined;
  const parser = new DOMParser({
    locator: true,
    onError: (_level, message, context) => {
      problem ??= { message, ...positionOf(context) };
      throw new Error('stop parsing');
    },
  });
  let doc: Document | undefined;
  try {
    doc = parser.parseFromString(text, 'text/xml');
  } catch (err) {
    problem ??= { message: err instanceof Error ? err.message : String(err), ...positionOf(err) };
  }
  if (problem) {
    const where = problem.line !== undefined ? `${file}:${problem.line}:${problem.column ?? 0}` : file;
    const firstLine = problem.message.split('\n')[0] ?? '';
    throw new InputError(`${where}: malformed XML: ${printable(firstLine, 200)}`);
  }
  if (!doc?.documentElement) throw new InputError(`${file}: malformed XML: there is no root element.`);
  return doc;
}
