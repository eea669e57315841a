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
 * Prints `{"KEY": [ITEM, ...]}` as printJson would, one item at a time as they are produced, so a list of
 * 10,000 devices never sits in memory twice (as objects and as one big string).
 */
export function printJsonList<T>(out: Output, key: string, items: Iterable<T>): void {
  out.stdout(`{\n  ${JSON.stringify(key)}: [`);
  let first = true;
  for (const item of items) {
    out.stdout(`${first ? '\n' : ',\n'}${JSON.stringify(item, null, 2).replace(/^/gm, '    ')}`);
    first = false;
  }
  out.stdout(first ? ']\n}\n' : '\n  ]\n}\n');
}
