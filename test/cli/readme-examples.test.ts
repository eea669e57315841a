import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { REPO } from '../helpers/cli.js';
import { callHook, domainXml, installed, simHost } from '../libvirt/libvirt-sim.js';

/**
 * README's quoted outputs for a bundled host, run as README says and compared: the group numbers, the
 * messages and the exit codes must be what the code prints today (a host file's groups can be renumbered).
 */
const readme = fs.readFileSync(path.join(REPO, 'README.md'), 'utf8').replace(/\n\s*/g, ' ');
const A = { name: 'vm-a', uuid: 'aaaaaaaa-0000-4000-8000-000000000001' };

/** The README text matched by `re`, which must be there: its capture groups. */
function quoted(re: RegExp): string[] {
  const m = readme.match(re);
  if (!m) throw new Error(`README.md no longer has ${re}`);
  return m.slice(1);
}

describe("README's quoted hook refusals, on the bundled host they name", () => {
  it("a group='manual' refusal: the line libvirt shows, its IOMMU group and exit status", () => {
    const [host, name, addr, status, line] = quoted(
      /on the bundled host (\S+), for a domain '([^']+)' whose one `<hostdev>` names (\S+) without `group=`\):.*?unexpected exit status (\d+): (vfioctl: .*?) …/,
    );
    const h = simHost(host!);
    const r = callHook(installed().qemu, [name!, 'prepare', 'begin', '-'], domainXml({ name: name!, uuid: A.uuid, hostdevs: [addr!] }), h.root);
    expect(r.code).toBe(Number(status));
    expect(r.stderr.startsWith(line!)).toBe(true);
  });

  it("a group another domain holds: the IOMMU group and exit code of 'Who holds a group'", () => {
    const [code, other, held, sentence] = quoted(
      /domain is refused \(exit (\d+)\), naming that domain \(on the same host, after 'vm-a' took the group with `group='auto'`, a domain naming (\S+)\): `… (IOMMU group \d+ is held by vfioctl for domain 'vm-a' \(UUID\)), (which has not released it\.)`/,
    );
    const [host] = quoted(/on the bundled host (\S+), for a domain/);
    const [first] = quoted(/whose one `<hostdev>` names (\S+) without `group=`/);
    const h = simHost(host!);
    const { qemu } = installed();
    expect(callHook(qemu, [A.name, 'prepare', 'begin', '-'], domainXml({ ...A, hostdevs: [first!], group: 'auto' }), h.root).code).toBe(0);
    const B = { name: 'vm-b', uuid: 'bbbbbbbb-0000-4000-8000-000000000002' };
    const r = callHook(qemu, [B.name, 'prepare', 'begin', '-'], domainXml({ ...B, hostdevs: [other!] }), h.root);
    expect(r.code).toBe(Number(code));
    expect(r.stderr).toContain(`${held!.replace('UUID', A.uuid)}, ${sentence!}`);
  });
});
