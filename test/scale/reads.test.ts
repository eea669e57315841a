import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { countFsCalls } from '../helpers/fs-calls.js';
import { largeHost } from '../helpers/large-host.js';
import { makeSimulatedHost, type SimHost } from '../helpers/sim-host.js';

/**
 * group-info must read only the group it is asked about: the filesystem calls it makes on a host of 2,000
 * functions are the same as on a host of 100. list reads each function's few files once. Behaviours,
 * counted as budgets per kind of call (at most N openSync, ...), which a different walk of the tree may keep;
 * the budgets are today's counts. The timing lives in bench/.
 */
describe('group-info reads in proportion to the group, not the host; list, in proportion to the host', () => {
  const small = largeHost(100);
  const large = largeHost(2000);
  let hSmall: SimHost;
  let hLarge: SimHost;
  // No pci.ids: names would add reads of a file that is not the host's sysfs.
  let savedIds: string | undefined;
  beforeAll(() => {
    savedIds = process.env.VFIOCTL_PCI_IDS;
    process.env.VFIOCTL_PCI_IDS = '';
    hSmall = makeSimulatedHost(small.desc);
    hLarge = makeSimulatedHost(large.desc);
  }, 300_000); // some 50,000 files: a minute on a machine where creating a file costs a millisecond
  afterAll(() => {
    if (savedIds === undefined) delete process.env.VFIOCTL_PCI_IDS;
    else process.env.VFIOCTL_PCI_IDS = savedIds;
    hSmall.cleanup();
    hLarge.cleanup();
  });

  it('group-info of a 3-device group stays within a fixed budget per call, the same on 100 and 2,000 functions', async () => {
    expect(small.gpu).toBe(large.gpu);
    const a = await countFsCalls(['group-info', small.gpu, '--json', '--root', hSmall.root]);
    const b = await countFsCalls(['group-info', large.gpu, '--json', '--root', hLarge.root]);
    // stat + read of proc/mounts, proc/self/mountinfo (the block devices behind mounts) and proc/swaps; one open
    // of run/vfioctl/journal.json (who holds the group; an open, not a stat, so that a FIFO there cannot block:
    // src/host/journal-devices.ts): host-wide files, the same count on any host.
    // openSync: 3 more than before reset_method was reported (one per member).
    // statSync and readFileSync: one more each for lib/modules/RELEASE/modules.alias (which vfio driver group='auto' would bind), host-wide.
    // openSync: 2 more for proc/cmdline and vfio's enable_unsafe_noiommu_mode (src/host/isolation.ts), host-wide.
    // The mount and swap tables, mountinfo and modules.alias are opened without blocking and fstat'ed
    // (src/host/regular-file.ts: a FIFO there must not hang a run): 5 opens instead of 5 stats and 4 readFileSync.
    // readdir: the group, and once per run whether vfio-pci is loaded (the auto verdict, as check's). Whether the
    // IOMMU is on is answered by the members' iommu_group links: sys/kernel/iommu_groups is neither listed nor opened.
    const budget = { openSync: 24, readlinkSync: 9, lstatSync: 6, statSync: 2, realpath: 3, readFileSync: 0, readdirSync: 2, opendirSync: 0, existsSync: 0 };
    expect(overBudget(a.paths, budget)).toEqual([]);
    expect(overBudget(b.paths, budget)).toEqual([]);
    expect(b.calls).toBe(a.calls);
    expect(twice(a.paths)).toEqual([]);
  });

  /**
   * list reads each function's few files once and finds the functions by one walk of the host: budgets per
   * function (F) and per bridge (B), and a few calls for the host itself, whatever paths the walk takes.
   */
  it('list stays within budgets that grow with the functions and bridges of the host, and opens no file twice', async () => {
    const { paths } = await countFsCalls(['list', '--json', '--root', hLarge.root]);
    const F = large.desc.devices.length;
    const B = large.desc.devices.filter((d) => d.headerType === 1).length;
    const vfs = large.desc.devices.filter((d) => d.physfn !== undefined).length;
    const unbound = large.desc.devices.filter((d) => d.driver === null).length;
    const budget = {
      // The iommu_group and physfn links of each function, and the driver link of each whose uevent names no
      // driver (here the unbound PCIe-to-PCI bridges): a stored uevent may lag its link (reader.ts).
      readlinkSync: 2 * F + unbound,
      // uevent, driver_override and reset_method of each function, config space of each that is not a VF (a
      // VF's is of no use), and a few files only some have (sriov_numvfs is not read: a scan knows the VFs
      // from their links).
      // and proc/cmdline with vfio's enable_unsafe_noiommu_mode (src/host/isolation.ts).
      // The mount and swap tables, mountinfo and modules.alias: opened without blocking (regular-file.ts).
      openSync: 3 * F + (F - vfs) + 16,
      // one listing per PCI root and bridge, sys/class/iommu (non-PCI group members: src/host/non-pci.ts), and
      // once per run the IOMMU groups and the drivers (the auto verdict's host preconditions)
      readdirSync: B + 7,
      statSync: 2, // as group-info
      readFileSync: 0,
      realpath: 1,
      lstatSync: 0,
      existsSync: 0,
    };
    expect(overBudget(paths, budget)).toEqual([]);
    expect(twice(paths)).toEqual([]);
  });
});

/** Each kind of call made more often than its budget allows, as 'openSync: 4300 > 4210'. */
function overBudget(paths: string[], budget: Record<string, number>): string[] {
  const counts = new Map<string, number>();
  for (const kind of paths.map((p) => p.split(' ')[0]!)) counts.set(kind, (counts.get(kind) ?? 0) + 1);
  return [...counts].filter(([kind, n]) => n > (budget[kind] ?? 0)).map(([kind, n]) => `${kind}: ${n} > ${budget[kind] ?? 0}`);
}

/** Files opened more than once. */
function twice(paths: string[]): string[] {
  const seen = new Set<string>();
  const again = new Set<string>();
  for (const p of paths.filter((x) => x.startsWith('openSync '))) (seen.has(p) ? again : seen).add(p);
  return [...again];
}
