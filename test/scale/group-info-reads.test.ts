import fs from 'node:fs';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { runCli } from '../helpers/cli.js';
import { largeHost } from '../helpers/large-host.js';
import { makeSimulatedHost, type SimHost } from '../helpers/sim-host.js';

/**
 * group-info must read only the group it is asked about: the filesystem calls it makes on a host of 2,000
 * functions are the same as on a host of 100 (a behaviour, counted; the timing lives in bench/).
 */
type Counted = { calls: number; paths: string[] };

async function countFsCalls(args: string[]): Promise<Counted> {
  const names = ['openSync', 'readFileSync', 'readdirSync', 'readlinkSync', 'statSync', 'lstatSync', 'existsSync'] as const;
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

describe('group-info reads in proportion to the group, not the host', () => {
  const small = largeHost(100);
  const large = largeHost(2000);
  let hSmall: SimHost;
  let hLarge: SimHost;
  beforeAll(() => {
    hSmall = makeSimulatedHost(small.desc);
    hLarge = makeSimulatedHost(large.desc);
  });
  afterAll(() => {
    hSmall.cleanup();
    hLarge.cleanup();
  });

  it('the same filesystem calls for a 3-device group on hosts of 100 and 2,000 functions', async () => {
    expect(small.gpu).toBe(large.gpu);
    const env = process.env.VFIOCTL_PCI_IDS;
    process.env.VFIOCTL_PCI_IDS = '';
    try {
      const a = await countFsCalls(['group-info', small.gpu, '--json', '--root', hSmall.root]);
      const b = await countFsCalls(['group-info', large.gpu, '--json', '--root', hLarge.root]);
      expect(b.calls).toBe(a.calls);
      expect(a.calls).toBeLessThan(150);
      // and no attribute file is read twice
      const reads = a.paths.filter((p) => p.startsWith('openSync '));
      expect(reads.length).toBe(new Set(reads).size);
    } finally {
      if (env === undefined) delete process.env.VFIOCTL_PCI_IDS;
      else process.env.VFIOCTL_PCI_IDS = env;
    }
  });
});
