import { afterAll, describe, expect, it } from 'vitest';
import { injectFault } from '../../src/mock/kernel/sim-state.js';
import { json, runBin, yieldToRunner } from '../helpers/cli.js';
import { makeSimulatedHost } from '../helpers/sim-host.js';
import { tempFile } from '../helpers/xml.js';
import { drivers, journal, report, Tally, targetGroup } from './campaign.js';

/**
 * The real bin, killed with SIGKILL right after each write k of a group='auto' detach (the simulated kernel
 * kills the writer once write k has taken effect, before vfioctl can note it). Then `reattach --all` must
 * restore every device, and a new detach after that must work.
 */
const tally = new Tally();
afterAll(() => report(tally.summary('crashes (SIGKILL after each write of a detach)')));

describe.each(['workstation', 'pci-bridge'])('crash after each write of a detach on %s', (hostName) => {
  it('reattach --all restores every device, and a new detach works', async () => {
    const probe = makeSimulatedHost(hostName);
    let xml: string;
    let writes: number;
    try {
      const target = (await targetGroup(probe.root))!;
      xml = tempFile('crash.xml', target.xml);
      writes = json(runBin(['detach', xml, '--dry-run', '--json', '--root', probe.root])).writes.length;
    } finally {
      probe.cleanup();
    }
    expect(writes).toBeGreaterThan(2);
    for (let k = 1; k <= writes; k++) {
      const h = makeSimulatedHost(hostName);
      try {
        const before = drivers(h.root);
        injectFault(h.root, { kind: 'crash', position: k, times: 'once' });
        const crashed = runBin(['detach', xml, '--root', h.root]);
        const j = journal(h.root);
        const recorded = crashed.signal === 'SIGKILL' && j.operation !== null && Object.keys(j.devices).length > 0;
        const back = runBin(['reattach', '--all', '--root', h.root]);
        const restored = back.code === 0 && JSON.stringify(drivers(h.root)) === JSON.stringify(before) && Object.keys(journal(h.root).devices).length === 0 && journal(h.root).operation === null;
        const again = runBin(['detach', xml, '--json', '--root', h.root]);
        const detached = again.code === 0 && json(again).changed === true;
        tally.record(`${hostName}: killed after write ${k} of ${writes}`, recorded && restored && detached, `killed=${crashed.signal} journal=${JSON.stringify(j.operation !== null)} reattach=${back.code} ${back.stderr.trim()} detach=${again.code} ${again.stderr.trim()}`);
      } finally {
        h.cleanup();
      }
      await yieldToRunner(); // the loop of synchronous runs must not hold the worker's event loop (helpers/cli.ts)
    }
    expect(tally.failures).toEqual([]);
  });
});
