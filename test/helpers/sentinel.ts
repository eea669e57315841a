import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach } from 'vitest';

/**
 * For a test file's top level: returns a maker of empty directories outside any host root, to show that
 * nothing was written there, and registers an afterEach that removes every one made during the test.
 */
export function useSentinels(): () => string {
  const made: string[] = [];
  afterEach(() => {
    while (made.length) fs.rmSync(made.pop()!, { recursive: true, force: true });
  });
  return () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vfioctl-sentinel-'));
    made.push(dir);
    return dir;
  };
}
