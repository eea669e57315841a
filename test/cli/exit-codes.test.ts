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
});
