import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import * as errors from '../../src/errors.js';
import { REPO } from '../helpers/cli.js';

describe('exit codes', () => {
  it('README lists exactly the codes the errors carry, one class per code', () => {
    const readme = fs.readFileSync(path.join(REPO, 'README.md'), 'utf8');
    const table = readme.split('## Exit codes')[1]!.split('\n## ')[0]!;
    const documented = [...table.matchAll(/^\| (\d+) \|/gm)].map((m) => Number(m[1]));
    expect(documented).toEqual(Object.values(errors.ExitCode));
    const classes = (Object.values(errors) as unknown[]).filter((v) => typeof v === 'function' && (v as { prototype: unknown }).prototype instanceof errors.VfioctlError);
    const codes = classes.map((C) => new (C as new (m: string) => errors.VfioctlError)('x').exitCode);
    expect(new Set(codes).size).toBe(codes.length);
    for (const c of codes) expect(documented).toContain(c);
  });

  it('every exit code has one owner: an error class thrown somewhere in src/, or the one module that returns it as a verdict', () => {
    const sources = (dir: string): string[] =>
      fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? sources(path.join(dir, e.name)) : e.name.endsWith('.ts') ? [path.join(dir, e.name)] : []));
    const code = sources(path.join(REPO, 'src')).filter((f) => !f.endsWith(`${path.sep}errors.ts`)).map((f) => [path.relative(REPO, f), fs.readFileSync(f, 'utf8')] as const);
    const classes = Object.entries(errors).filter(([, v]) => typeof v === 'function' && (v as { prototype: unknown }).prototype instanceof errors.VfioctlError);
    const neverThrown = classes.filter(([name]) => !code.some(([, text]) => text.includes(`new ${name}(`))).map(([name]) => name);
    expect(neverThrown).toEqual([]);
    const byClass = new Set(classes.map(([, C]) => new (C as new (m: string) => errors.VfioctlError)('x').exitCode as number));
    const verdicts = Object.entries(errors.ExitCode).filter(([, n]) => n > errors.ExitCode.internal && !byClass.has(n));
    const owners = verdicts.map(([name]) => [name, code.filter(([, text]) => new RegExp(`ExitCode\\.${name}\\b`).test(text)).map(([f]) => f)]);
    expect(owners).toEqual([['persistCheck', ['src/persist/verify.ts']]]);
  });
});
