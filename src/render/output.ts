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
