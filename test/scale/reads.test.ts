import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { countFsCalls } from '../helpers/fs-calls.js';
import { largeHost } from '../helpers/large-host.js';
import { makeSimulatedHost, type SimHost } from '../helpers/sim-host.js';

/**
 * group-info must read only the group it is asked about: the filesystem calls it makes on a host of 2,000
 * functions are the same as on a host of 100. list reads each function's few files once. Behaviours,
 * counted; the timing lives in bench/.
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

  it('the same filesystem calls for a 3-device group on hosts of 100 and 2,000 functions', async () => {
    expect(small.gpu).toBe(large.gpu);
    const a = await countFsCalls(['group-info', small.gpu, '--json', '--root', hSmall.root]);
    const b = await countFsCalls(['group-info', large.gpu, '--json', '--root', hLarge.root]);
    expect(b.calls).toBe(a.calls);
    expect(a.calls).toBeLessThan(150);
    // and no attribute file is read twice
    const reads = a.paths.filter((p) => p.startsWith('openSync '));
    expect(reads.length).toBe(new Set(reads).size);
  });

  /**
   * list reads each function's files once, and finds where each function is by walking the device tree
   * (a listing per PCI root and bridge), not by reading its link in sys/bus/pci/devices: the links it reads
   * are the iommu_group and physfn link of each function, and a few of the host's own.
   */
  it('list reads two links per function (iommu_group, physfn), no bus link, each attribute file once, and lists only PCI roots and bridges', async () => {
    const { paths } = await countFsCalls(['list', '--json', '--root', hLarge.root]);
    const functions = large.desc.devices.length;
    const links = paths.filter((p) => p.startsWith('readlinkSync '));
    expect(links.filter((p) => /\/iommu_group$/.test(p))).toHaveLength(functions);
    expect(links.filter((p) => /\/physfn$/.test(p))).toHaveLength(functions);
    expect(links.filter((p) => p.includes('/sys/bus/pci/devices/'))).toEqual([]);
    expect(links.length).toBeLessThan(functions * 2 + 20);
    const opened = paths.filter((p) => p.startsWith('openSync '));
    expect(opened.length).toBe(new Set(opened).size);
    const bridges = large.desc.devices.filter((d) => d.headerType === 1).length;
    const listed = paths.filter((p) => p.startsWith('readdirSync '));
    expect(listed.length).toBeLessThanOrEqual(bridges + 10);
  });
});
