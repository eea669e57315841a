import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { json, runBin } from '../helpers/cli.js';
import { useSimulatedHosts } from '../helpers/sim-host.js';
import { domainXml, tempFile } from '../helpers/xml.js';

const simulatedHost = useSimulatedHosts();

describe('a NIC given back after detach --force', () => {
  it('reattach says which interface came back down and the command that brings it up', () => {
    const h = simulatedHost('workstation');
    const xml = tempFile('nic.xml', domainXml('nic', [{ address: '0000:00:1f.6' }]));
    expect(runBin(['detach', xml, '--force', '--root', h.root]).code).toBe(0);
    const journal = JSON.parse(fs.readFileSync(path.join(h.root, 'run', 'vfioctl', 'journal.json'), 'utf8'));
    expect(journal.devices['0000:00:1f.6'].links).toEqual([{ name: 'eno1', operstate: 'up' }]);
    const r = runBin(['reattach', xml, '--root', h.root]);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('note: eno1 (0000:00:1f.6) was up before the detach and is down now: bring it up with `sudo ip link set eno1 up` (vfioctl does not bring host interfaces up by itself).\n');
  });

  it('--json: linksDown lists it', () => {
    const h = simulatedHost('workstation');
    const xml = tempFile('nic.xml', domainXml('nic', [{ address: '0000:00:1f.6' }]));
    expect(runBin(['detach', xml, '--force', '--root', h.root]).code).toBe(0);
    const r = json(runBin(['reattach', xml, '--json', '--root', h.root]));
    expect(r.linksDown).toEqual([{ device: '0000:00:1f.6', interface: 'eno1', operstate: 'down', command: 'ip link set eno1 up' }]);
  });

  it('a device without interfaces, or one that was down: nothing said', () => {
    const h = simulatedHost('workstation');
    const xml = tempFile('gpu.xml', domainXml('gpu', [{ address: '0000:01:00.0', group: 'auto' }]));
    expect(runBin(['detach', xml, '--root', h.root]).code).toBe(0);
    const r = json(runBin(['reattach', xml, '--json', '--root', h.root]));
    expect(r.linksDown).toEqual([]);
    expect(r.notes.join('\n')).not.toContain('ip link');
  });
});
