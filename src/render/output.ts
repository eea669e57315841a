import { fdWriter } from './terminal.js';

/** The colours the renderers use; identity functions when output is not coloured. */
export interface Palette {
  bold: (s: string) => string;
  red: (s: string) => string;
  green: (s: string) => string;
  yellow: (s: string) => string;
  cyan: (s: string) => string;
  dim: (s: string) => string;
}

/** Where a command writes, and how it may colour each stream (decided per stream: src/render/color.ts). Tests pass their own. */
export interface Output {
  stdout: (text: string) => void;
  stderr: (text: string) => void;
  /** For text written to stdout. */
  color: Palette;
  /** For text written to stderr; absent: `color` (an Output a test builds). */
  errColor?: Palette;
}

/** The palette for text written to out.stderr. */
export function stderrPalette(out: Output): Palette {
  return out.errColor ?? out.color;
}

const same = (s: string): string => s;
export const PLAIN: Palette = { bold: same, red: same, green: same, yellow: same, cyan: same, dim: same };

/** chalk's colours, loaded only when output is coloured: most runs (scripts, CI, pipes) never need it. */
export async function colorPalette(level: 1 | 2 | 3 = 1): Promise<Palette> {
  const { Chalk } = await import('chalk');
  const c = new Chalk({ level });
  return { bold: (s) => c.bold(s), red: (s) => c.red(s), green: (s) => c.green(s), yellow: (s) => c.yellow(s), cyan: (s) => c.cyan(s), dim: (s) => c.dim(s) };
}

export function makeOutput(opts: { stdout?: (t: string) => void; stderr?: (t: string) => void; color: Palette; errColor?: Palette }): Output {
  return { stdout: opts.stdout ?? fdWriter(1), stderr: opts.stderr ?? fdWriter(2), color: opts.color, errColor: opts.errColor ?? opts.color };
}

/** Warnings about the whole host (src/host/isolation.ts), one line each, before anything else. */
export function renderWarnings(out: Output, warnings: string[]): void {
  for (const w of warnings) out.stdout(`${out.color.yellow('warning:')} ${w}\n`);
}

export function printJson(out: Output, value: unknown): void {
  out.stdout(`${JSON.stringify(value, null, 2)}\n`);
}

/**
 * An Output whose stdout is gathered into writes of about 64 KiB: a write per group is dear on a large host
 * (bench/results.md, History). The caller flushes it when done, also when failing: what was printed is not lost.
 */
export function bufferedOutput(out: Output): Output & { flush: () => void } {
  let pending: string[] = [];
  let size = 0;
  const flush = (): void => {
    if (size === 0) return;
    const text = pending.join('');
    pending = [];
    size = 0;
    out.stdout(text);
  };
  return {
    ...out,
    stdout: (t) => {
      pending.push(t);
      size += t.length;
      if (size >= 64 * 1024) flush();
    },
    flush,
  };
}
