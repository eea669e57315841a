// Renders the man page's one source, docs/vfioctl.8.md, to roff (man(7) macros). scripts/build.mjs writes
// the result to dist/vfioctl.8; test/cli/man.test.ts renders it with `groff -ww` and fails on any warning.
//
// A dozen lines of Markdown are all the page uses, so this is a small converter of our own rather than a
// dependency (marked-man, ronn): the subset is fixed by docs/vfioctl.8.md (blocks are split at blank lines,
// so a fenced example has none inside) and a heading or HTML it does not know is an error here, not a
// surprise in the rendered page.
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
export const MAN_SOURCE = path.join(REPO, 'docs', 'vfioctl.8.md');

/** Escapes text for roff: backslashes, and characters outside ASCII as \[uXXXX] (groff reads Latin-1). */
function escapeText(text) {
  return text.replace(/\\/g, '\\e').replace(/[^\x20-\x7e]/gu, (c) => `\\[u${c.codePointAt(0).toString(16).toUpperCase().padStart(4, '0')}]`);
}

/** A line of roff that is text: one starting with '.' or "'" would be read as a request. */
function textLine(line) {
  return /^[.']/.test(line) ? `\\&${line}` : line;
}

/** `code` in bold (its hyphens as minus signs, so options copy and paste), *words* in italics. */
export function inline(text) {
  return text
    .split(/(`[^`]*`)/)
    .map((part) => {
      if (part.startsWith('`') && part.endsWith('`') && part.length > 1) return `\\fB${escapeText(part.slice(1, -1)).replace(/-/g, '\\-')}\\fR`;
      return escapeText(part).replace(/\*([^*\s][^*]*)\*/g, '\\fI$1\\fR');
    })
    .join('');
}

function tableRows(lines) {
  const cells = (l) => l.replace(/^\||\|$/g, '').split(' | ').map((c) => c.trim());
  return lines.slice(2).flatMap((l) => {
    const [code, meaning] = cells(l);
    return ['.TP', `\\fB${escapeText(code)}\\fR`, textLine(inline(meaning))];
  });
}

/** The lines of one block (the source split at blank lines) as roff. */
function block(lines, section) {
  const first = lines[0];
  if (first.startsWith('```')) {
    const body = lines.slice(1, lines.at(-1) === '```' ? -1 : undefined);
    return ['.PP', '.RS 4', '.nf', ...body.map((l) => textLine(escapeText(l).replace(/-/g, '\\-'))), '.fi', '.RE'];
  }
  if (first.startsWith('## ')) return [`.SH ${first.slice(3).toUpperCase()}`, ...(lines.length > 1 ? block(lines.slice(1), first.slice(3)) : [])];
  if (first.startsWith('|')) return tableRows(lines);
  if (lines[1]?.startsWith(': ')) {
    const [, ...rest] = lines;
    return ['.TP', textLine(inline(first)), ...rest.map((l) => textLine(inline(l.replace(/^: /, ''))))];
  }
  if (first.startsWith('- ')) return lines.flatMap((l) => (l.startsWith('- ') ? ['.IP \\(bu 2', textLine(inline(l.slice(2)))] : [textLine(inline(l.trim()))]));
  if (/^[#<]/.test(first)) throw new Error(`docs/vfioctl.8.md: unsupported line '${first}'`);
  if (section === 'NAME') return lines.map((l) => textLine(inline(l).replace(' - ', ' \\- ')));
  return ['.PP', ...lines.map((l) => textLine(inline(l)))];
}

/** The whole page: .TH, then each block. `date` is the build's (SOURCE_DATE_EPOCH when set). */
export function renderMan(source, { version, date }) {
  const text = source.replace(/<!--[\s\S]*?-->\n*/g, '');
  const blocks = text
    .split(/\n{2,}/)
    .map((b) => b.split('\n').filter((l) => l !== ''))
    .filter((b) => b.length > 0 && !b[0].startsWith('# '));
  // .nh: no hyphenation, so paths and options are never broken across lines.
  const out = [`.TH VFIOCTL 8 "${date}" "vfioctl ${version}" "System Administration"`, '.nh'];
  let section = '';
  for (const lines of blocks) {
    if (lines[0].startsWith('## ')) section = lines[0].slice(3);
    out.push(...block(lines, section));
  }
  return `${out.join('\n')}\n`;
}

/** Renders docs/vfioctl.8.md with package.json's version to `outFile`. */
export function writeManPage(outFile) {
  const { version } = JSON.parse(fs.readFileSync(path.join(REPO, 'package.json'), 'utf8'));
  const epoch = process.env.SOURCE_DATE_EPOCH;
  const date = (epoch ? new Date(Number(epoch) * 1000) : new Date()).toISOString().slice(0, 10);
  fs.writeFileSync(outFile, renderMan(fs.readFileSync(MAN_SOURCE, 'utf8'), { version, date }));
}
