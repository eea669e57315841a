import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { Host } from '../../src/host/host.js';
import { checkDetach } from '../../src/plan/check.js';
import { parseLibvirtXml } from '../../src/xml/index.js';
import { json, REPO, runBin, runCli } from '../helpers/cli.js';
import { domainXml, tempFile } from '../helpers/xml.js';

const HOSTS = path.join(REPO, 'mock-sysfs', 'hosts');
const PF = '0000:3b:00.0'; // sriov-server: an X710 PF with 8 VFs enabled, in IOMMU group 5
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'vfioctl-after-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

describe("check: 'after detach' agrees with the verdict", () => {
  it("says 'after detach: no' for a group whose PF has VFs enabled, in text and --json, through bin/", () => {
    const root = path.join(tmp, 'sriov');
    expect(runBin(['mock', 'create', 'sriov-server', root]).code).toBe(0);
    const xml = tempFile('pf.xml', domainXml('vm', [{ address: PF, group: 'auto' }]));
    const text = runBin(['check', '--root', root, xml]);
    expect(text.code).toBe(7);
    expect(text.stdout).toContain('IOMMU group 5 (group=\'auto\'): viable now: no; after detach: no (the detach refuses: see the blockers)\n');
    expect(text.stdout).toContain(`${PF} is an SR-IOV physical function with 8 virtual functions enabled`);
    const j = json(runBin(['check', '--json', '--root', root, xml]));
    expect(j).toMatchObject({ ok: false, exitCode: 7 });
    expect(j.groups.map((g: any) => [g.group, g.viableAfter])).toEqual([[5, false]]);
  });

  it("says 'after detach: yes' only where check exits 0: every device of every bundled host, both modes, managed yes and no", async () => {
    const disagree: string[] = [];
    let checked = 0;
    for (const name of fs.readdirSync(HOSTS).filter((f) => f.endsWith('.json'))) {
      const root = path.join(tmp, name.replace(/\.json$/, ''));
      expect((await runCli(['mock', 'create', name.replace(/\.json$/, ''), root])).code).toBe(0);
      const listed = await runCli(['list', '--json', '--root', root]);
      if (listed.code !== 0) continue; // the IOMMU is off: no groups to check
      const devices = (json(listed).groups as any[]).flatMap((g) => g.devices).filter((d: any) => !d.bridge);
      const host = new Host(root); // check's own planner (src/plan/check.ts), the host read once
      for (const d of devices)
        for (const group of ['auto', 'manual'] as const)
          for (const managed of ['yes', 'no'] as const) {
            const v = checkDetach(parseLibvirtXml(domainXml('vm', [{ address: d.address, group, managed }]), 'vm.xml'), host);
            checked++;
            for (const g of v.analysis.groups)
              if (g.viableAfter !== (v.exitCode === 0)) disagree.push(`${name} ${d.address} group='${group}' managed='${managed}': group ${g.group} viableAfter=${g.viableAfter}, exit ${v.exitCode}`);
          }
    }
    expect(checked).toBeGreaterThan(100);
    expect(disagree).toEqual([]);
  });
});
