import fs from 'node:fs';
import { expect, vi } from 'vitest';
import { runCli } from './cli.js';

/** The filesystem calls an in-process command makes, each as 'openSync PATH', 'readlinkSync PATH', ... */
export type Counted = { calls: number; paths: string[] };

export async function countFsCalls(args: string[]): Promise<Counted> {
  const names = ['openSync', 'readFileSync', 'readdirSync', 'opendirSync', 'readlinkSync', 'statSync', 'lstatSync', 'existsSync'] as const;
  const paths: string[] = [];
  const spies = names.map((n) => {
    const orig = (fs as any)[n].bind(fs) as (...a: unknown[]) => unknown;
    return vi.spyOn(fs, n as any).mockImplementation(((...a: unknown[]) => {
      paths.push(`${n} ${String(a[0])}`);
      return orig(...a);
    }) as any);
  });
  const real = fs.realpathSync.native;
  const rp = vi.spyOn(fs.realpathSync, 'native').mockImplementation(((p: string) => {
    paths.push(`realpath ${p}`);
    return real(p);
  }) as any);
  try {
    const r = await runCli(args);
    expect(r.code).toBe(0);
  } finally {
    spies.forEach((s) => s.mockRestore());
    rp.mockRestore();
  }
  return { calls: paths.length, paths };
}
