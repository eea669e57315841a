import { Chalk, type ChalkInstance } from 'chalk';

/** Where a command writes, and whether it may colour. Tests pass their own. */
export interface Output {
  stdout: (text: string) => void;
  stderr: (text: string) => void;
  color: ChalkInstance;
}

export function makeOutput(opts: { stdout?: (t: string) => void; stderr?: (t: string) => void; color: boolean }): Output {
  return {
    stdout: opts.stdout ?? ((t) => void process.stdout.write(t)),
    stderr: opts.stderr ?? ((t) => void process.stderr.write(t)),
    color: new Chalk({ level: opts.color ? 1 : 0 }),
  };
}

export function printJson(out: Output, value: unknown): void {
  out.stdout(`${JSON.stringify(value, null, 2)}\n`);
}

/**
 * An Output whose stdout is gathered into writes of about 64 KiB (a write per group was a tenth of `list`
 * on a large host). The caller flushes it when done, also when failing: what was printed is not lost.
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
