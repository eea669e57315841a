import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach } from 'vitest';
import { loadHostDescription } from '../../src/mock/hosts.js';
import { materializeHost } from '../../src/mock/materialize.js';
import { readWriteLog, type LoggedWrite } from '../../src/mock/kernel/sim-state.js';
import type { HostDescription } from '../../src/mock/description.js';

export interface SimHost {
  root: string;
  cleanup: () => void;
}

/**
 * A fresh simulated host in its own temp directory, from a bundled host name or a description. Every test
 * gets its own tree; cleanup removes it (set VFIOCTL_KEEP_TREES=1 to keep them for inspection).
 */
export function makeSimulatedHost(host: string | HostDescription): SimHost {
  const desc = typeof host === 'string' ? loadHostDescription(host) : host;
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `vfioctl-test-${desc.name}-`));
  const root = path.join(dir, 'host');
  materializeHost(desc, root);
  return {
    root,
    cleanup: () => {
      if (process.env.VFIOCTL_KEEP_TREES) process.stderr.write(`kept simulated host: ${root}\n`);
      else fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}

/**
 * For a test file's top level: returns a maker of fresh simulated hosts (as makeSimulatedHost) and registers
 * an afterEach that cleans up every host made during the test.
 */
export function useSimulatedHosts(): (host: string | HostDescription) => SimHost {
  const made: SimHost[] = [];
  afterEach(() => {
    while (made.length) made.pop()!.cleanup();
  });
  return (host) => {
    const h = makeSimulatedHost(host);
    made.push(h);
    return h;
  };
}

/** Every write the simulated kernel received, in order, with its result ('ok' or the errno). */
export function simulatedWrites(root: string): LoggedWrite[] {
  return readWriteLog(root);
}
