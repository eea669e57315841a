import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { json, runBin } from '../helpers/cli.js';
import { useSimulatedHosts } from '../helpers/sim-host.js';
import { domainXml, tempFile } from '../helpers/xml.js';
import { drivers, etcFiles, RECORD, RULE } from './persist-sim.js';

// qemu-q35-iommu: group 10 holds two e1000 behind a bridge (0000:02:01.0, 0000:02:02.0); group 11 is one
// e1000e (0000:03:00.0).
const NIC1 = '0000:02:01.0';
const NIC2 = '0000:02:02.0';
const LONE = '0000:03:00.0';
const simHost = useSimulatedHosts();

function twoDomains(root: string): { a: string; b: string } {
  const a = tempFile('vm-a.xml', domainXml('vm-a', [{ address: NIC1, group: 'auto' }]));
  const b = tempFile('vm-b.xml', domainXml('vm-b', [{ address: LONE, group: 'auto' }]));
  for (const f of [a, b]) expect(runBin(['persist', f, '--root', root]).code).toBe(0);
  return { a, b };
}

const persisted = (root: string): string[] => JSON.parse(etcFiles(root)[RECORD]!).devices.map((d: any) => d.address);
const ruleAddresses = (root: string): string[] => [...new Set([...etcFiles(root)[RULE]!.matchAll(/KERNEL=="([^"]+)"/g)].map((m) => m[1]!))];

describe('vfioctl unpersist', () => {
  it('FILE drops exactly the devices persisted from it; the rule is generated again from what is left', () => {
    const h = simHost('qemu-q35-iommu');
    const { a } = twoDomains(h.root);
    expect(persisted(h.root)).toEqual([NIC1, NIC2, LONE]);
    const r = json(runBin(['unpersist', a, '--json', '--root', h.root]));
    expect(r.removed.map((d: any) => d.address)).toEqual([NIC1, NIC2]);
    expect(r.remaining).toBe(1);
    expect(r.files.map((f: any) => [f.path, f.action])).toEqual([
      [RECORD, 'written'],
      [RULE, 'written'],
      ['/etc/modules-load.d/vfioctl.conf', 'unchanged'],
      ['/etc/systemd/system/vfioctl-verify.service', 'unchanged'],
      ['/etc/systemd/system/multi-user.target.wants/vfioctl-verify.service', 'unchanged'],
    ]);
    expect(persisted(h.root)).toEqual([LONE]);
    expect(ruleAddresses(h.root)).toEqual([LONE]);
  });

  it('ADDR drops that device with the rest of its group (short form too); one not persisted is exit 4', () => {
    const h = simHost('qemu-q35-iommu');
    twoDomains(h.root);
    const r = runBin(['unpersist', '02:02.0', '--root', h.root]);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain(`No longer persisted:\n  ${NIC1}  8086:100e (subsystem 1af4:1100)  IOMMU group 10, group='auto'\n  ${NIC2}`);
    expect(persisted(h.root)).toEqual([LONE]);
    const missing = runBin(['unpersist', NIC1, '--root', h.root]);
    expect(missing.code).toBe(4);
    expect(missing.stderr).toMatch(/^vfioctl: 0000:02:01\.0 is not persisted\.\n {2}Persisted: .*vm-b\.xml \(domain 'vm-b'\); vfioctl persist --list shows every device\.\n$/);
  });

  it('a FILE that moved is matched by the domain it defines', () => {
    const h = simHost('qemu-q35-iommu');
    const { a } = twoDomains(h.root);
    const moved = tempFile('elsewhere.xml', fs.readFileSync(a, 'utf8'));
    expect(runBin(['unpersist', moved, '--root', h.root]).code).toBe(0);
    expect(persisted(h.root)).toEqual([LONE]);
    const other = tempFile('vm-c.xml', domainXml('vm-c', [{ address: NIC1, group: 'auto' }]));
    const none = runBin(['unpersist', other, '--root', h.root]);
    expect(none.code).toBe(4);
    expect(none.stderr).toContain(`vfioctl: Nothing is persisted from ${other} (domain 'vm-c').`);
  });

  it('--all (and the last device going) removes every file persist wrote and nothing else; devices stay where they are', () => {
    const h = simHost('qemu-q35-iommu');
    const mine = path.join(h.root, 'etc/udev/rules.d/70-mine.rules');
    fs.mkdirSync(path.dirname(mine), { recursive: true });
    fs.writeFileSync(mine, '# not vfioctl\'s\n');
    const { a, b } = twoDomains(h.root);
    expect(runBin(['detach', a, '--root', h.root]).code).toBe(0);
    const dry = runBin(['unpersist', '--all', '--dry-run', '--root', h.root]);
    expect(dry.stdout).toContain(`--- ${RULE} (would remove)\n`);
    expect(Object.keys(etcFiles(h.root))).toHaveLength(6);
    const r = runBin(['unpersist', '--all', '--root', h.root]);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('0 devices still persisted. Devices on vfio-pci stay there until `vfioctl reattach`.');
    expect(etcFiles(h.root)).toEqual({ '/etc/udev/rules.d/70-mine.rules': "# not vfioctl's\n" });
    expect([drivers(h.root)[NIC1], drivers(h.root)[NIC2], drivers(h.root)[LONE]]).toEqual(['vfio-pci', 'vfio-pci', 'e1000e']);
    // The same through the last FILE: persist b alone, unpersist b: nothing of vfioctl's is left.
    expect(runBin(['persist', b, '--root', h.root]).code).toBe(0);
    expect(runBin(['unpersist', b, '--root', h.root]).code).toBe(0);
    expect(Object.keys(etcFiles(h.root))).toEqual(['/etc/udev/rules.d/70-mine.rules']);
    expect(runBin(['unpersist', '--all', '--root', h.root]).stdout).toBe('Nothing was persisted.\n');
  });

  it('needs a file, an address or --all', () => {
    const h = simHost('qemu-q35-iommu');
    for (const args of [['unpersist'], ['unpersist', NIC1, '--all']]) {
      const r = runBin([...args, '--root', h.root]);
      expect(r.code, args.join(' ')).toBe(3);
      expect(r.stderr).toBe('vfioctl: unpersist needs one of: the XML file that was persisted, a PCI address, or --all.\n');
    }
  });
});
