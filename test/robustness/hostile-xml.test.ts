import fs from 'node:fs';
import { afterAll, describe, expect, it } from 'vitest';
import { runCli } from '../helpers/cli.js';
import { useSimulatedHosts, simulatedWrites } from '../helpers/sim-host.js';
import { domainXml, tempFile } from '../helpers/xml.js';
import { report, Tally } from './campaign.js';

/** Hostile XML through `vfioctl detach` on a simulated host: a clear error, its exit code, and zero writes. */
const simulatedHost = useSimulatedHosts();
const tally = new Tally();
afterAll(() => report(tally.summary('hostile XML (detach on a simulated host, zero writes each)')));

const hostdev = (attrs: string): string =>
  `<domain type='kvm'><name>x</name><devices><hostdev mode='subsystem' type='pci' managed='yes'><driver name='vfio' group='auto'/><source><address ${attrs}/></source></hostdev></devices></domain>`;

const cases: [string, () => string, number, RegExp][] = [
  ['path traversal in bus', () => tempFile('a.xml', hostdev("domain='0x0000' bus='../../../sys' slot='0' function='0'")), 3, /invalid PCI address bus='\.\.\/\.\.\/\.\.\/sys'/],
  ['a NUL byte in an attribute', () => tempFile('a.xml', hostdev("bus='0x01\u0000' slot='0' function='0'")), 3, /NUL character/],
  ['path traversal in an interface name', () => tempFile('n.xml', "<network><name>n</name><forward mode='hostdev' managed='yes'><pf dev='eth0/../..'/></forward></network>"), 3, /contains '\/'/],
  ['DOCTYPE with an external entity', () => tempFile('a.xml', '<!DOCTYPE d [<!ENTITY x SYSTEM "file:///etc/passwd">]><domain><name>&x;</name></domain>'), 3, /DOCTYPE> declarations are not accepted/],
  ['an entity expansion bomb', () => tempFile('a.xml', `<!DOCTYPE d [${Array.from({ length: 10 }, (_, i) => `<!ENTITY l${i + 1} "${`&l${i};`.repeat(10)}">`).join('')}]><domain><name>&l10;</name></domain>`), 3, /DOCTYPE> declarations are not accepted/],
  ['a 50 MB file', () => {
    const f = tempFile('big.xml', '');
    fs.truncateSync(f, 50 * 1024 * 1024);
    return f;
  }, 3, /at most 4194304 bytes/],
  ['invalid UTF-8', () => {
    const f = tempFile('bad.xml', '');
    fs.writeFileSync(f, Buffer.from([0x3c, 0x64, 0xff, 0x3e]));
    return f;
  }, 3, /not valid UTF-8/],
  ['deep nesting', () => tempFile('deep.xml', `<domain>${'<x>'.repeat(5000)}${'</x>'.repeat(5000)}</domain>`), 3, /nested more than 64 deep/],
  ['the same device twice', () => tempFile('twice.xml', domainXml('x', [{ address: '0000:01:00.0', group: 'auto' }, { address: '0000:01:00.0', group: 'auto' }])), 3, /0000:01:00.0 is assigned a second time/],
  ['two hostdevs in one group with conflicting group modes', () => tempFile('mixed.xml', domainXml('x', [{ address: '0000:01:00.0', group: 'auto' }, { address: '0000:01:00.1', group: 'manual' }])), 3, /named with different group modes/],
];

describe('hostile XML: clear error, exit code, zero writes', () => {
  it.each(cases)('%s', async (name, make, code, message) => {
    const h = simulatedHost('workstation');
    const file = make();
    const results = [await runCli(['detach', file, '--root', h.root]), await runCli(['check', file, '--root', h.root])];
    const writes = simulatedWrites(h.root).length;
    const ok = results.every((r) => r.code === code && message.test(r.stderr + r.stdout)) && writes === 0;
    tally.record(name, ok, results.map((r) => `exit ${r.code}: ${(r.stderr + r.stdout).trim().slice(0, 200)}`).join(' | '));
    for (const r of results) {
      expect(r.code).toBe(code);
      expect(r.stderr + r.stdout).toMatch(message);
      expect(r.stderr).not.toMatch(/internal error|\bat .*\.(m?js|ts):\d+/);
    }
    expect(writes).toBe(0);
  });
});
