import { describe, expect, it } from 'vitest';
import { readSimState } from '../../src/mock/kernel/sim-state.js';
import { runBin } from '../helpers/cli.js';
import { useSimulatedHosts } from '../helpers/sim-host.js';
import { domainXml, tempFile } from '../helpers/xml.js';

const simulatedHost = useSimulatedHosts();

describe('usage errors are exit 2, before anything runs', () => {
  it('reattach with neither a file nor --all, and with both', () => {
    const h = simulatedHost('workstation');
    const neither = runBin(['reattach', '--root', h.root]);
    expect(neither).toMatchObject({ code: 2, stdout: '' });
    expect(neither.stderr).toBe('vfioctl: reattach needs a domain or network XML file, or --all for every device vfioctl moved.\n');
    const xml = tempFile('gpu.xml', domainXml('gpu', [{ address: '0000:01:00.0', group: 'auto' }]));
    const both = runBin(['reattach', xml, '--all', '--root', h.root]);
    expect(both.code).toBe(2);
    expect(both.stderr).toBe('vfioctl: Give either a file or --all, not both.\n');
  });

  it.each([['abc'], ['-1'], [''], ['1s']])('--lock-timeout %j: exit 2 and nothing written', (value) => {
    const h = simulatedHost('workstation');
    const xml = tempFile('gpu.xml', domainXml('gpu', [{ address: '0000:01:00.0', group: 'auto' }]));
    for (const cmd of [['detach', xml], ['reattach', '--all']]) {
      const r = runBin([...cmd, '--lock-timeout', value, '--root', h.root]);
      expect(r.code, r.stderr).toBe(2);
      expect(r.stderr).toContain(`error: option '--lock-timeout <seconds>' argument '${value}' is invalid. '${value}' is not a number of seconds (0 or more).`);
    }
    expect(readSimState(h.root).writes).toBe(0);
  });

  it('a valid --lock-timeout (0, 2.5) is taken', () => {
    const h = simulatedHost('workstation');
    const xml = tempFile('gpu.xml', domainXml('gpu', [{ address: '0000:01:00.0', group: 'auto' }]));
    expect(runBin(['detach', xml, '--lock-timeout', '0', '--root', h.root]).code).toBe(0);
    expect(runBin(['reattach', xml, '--lock-timeout', '2.5', '--root', h.root]).code).toBe(0);
  });
});
