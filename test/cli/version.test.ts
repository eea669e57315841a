import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { REPO, runBin } from '../helpers/cli.js';

const version = (JSON.parse(fs.readFileSync(path.join(REPO, 'package.json'), 'utf8')) as { version: string }).version;

describe('vfioctl --version', () => {
  it("prints the program's name and package.json's version, as other admin tools do", () => {
    for (const flag of ['--version', '-V']) {
      const r = runBin([flag]);
      expect(r).toEqual({ code: 0, stdout: `vfioctl ${version}\n`, stderr: '', signal: null });
    }
  });
});
