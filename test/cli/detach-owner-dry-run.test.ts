import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { json, runBin } from '../helpers/cli.js';
import { simulatedWrites, useSimulatedHosts } from '../helpers/sim-host.js';
import { domainXml, tempFile } from '../helpers/xml.js';

const host = useSimulatedHosts();

/** The host's accounts: qemu (uid 107, primary group kvm 36). */
function accounts(root: string): void {
  fs.mkdirSync(path.join(root, 'etc'), { recursive: true });
  fs.writeFileSync(path.join(root, 'etc/passwd'), 'root:x:0:0:root:/root:/bin/bash\nqemu:x:107:36:QEMU:/:/usr/sbin/nologin\n');
  fs.writeFileSync(path.join(root, 'etc/group'), 'root:x:0:\nkvm:x:36:qemu\n');
}

/** The nodes a real `detach --owner` says it gave, from its note. */
const gave = (stdout: string): string[] => /Gave (.*) to qemu/.exec(stdout)![1]!.split(', ');

describe('detach --dry-run --owner shows the /dev/vfio nodes it would give, as it shows the sysfs writes', () => {
  it('workstation GPU group: /dev/vfio/1 in text and --json, nothing written; the real run gives exactly that', () => {
    const h = host('workstation');
    accounts(h.root);
    const xml = tempFile('gpu.xml', domainXml('gpu', [{ address: '0000:01:00.0', group: 'auto' }]));
    const text = runBin(['detach', xml, '--dry-run', '--owner', 'qemu', '--root', h.root]);
    expect(text.code).toBe(0);
    expect(text.stdout).toContain('Then would give (1) to qemu (uid 107, gid 36):\n  /dev/vfio/1\n');
    const j = json(runBin(['detach', xml, '--dry-run', '--owner', 'qemu', '--json', '--root', h.root]));
    expect(j.nodes).toEqual({ owner: 'qemu', uid: 107, gid: 36, paths: ['/dev/vfio/1'], cdevsAtBind: [] });
    expect(simulatedWrites(h.root)).toEqual([]);
    expect(gave(runBin(['detach', xml, '--owner', 'qemu', '--root', h.root]).stdout)).toEqual(j.nodes.paths);
  });

  it('modern-vfio (6.8, vfio cdev): the group node, and the VF whose cdev the kernel numbers at bind; once held, the exact cdev', () => {
    const h = host('modern-vfio');
    accounts(h.root);
    const VF = '0000:01:00.2';
    const xml = tempFile('vm.xml', domainXml('nfv', [{ address: VF }]));
    const before = json(runBin(['detach', xml, '--dry-run', '--owner', 'qemu', '--json', '--root', h.root])).nodes;
    expect(before).toMatchObject({ paths: ['/dev/vfio/3'], cdevsAtBind: [VF] });
    const text = runBin(['detach', xml, '--dry-run', '--owner', 'qemu', '--root', h.root]).stdout;
    expect(text).toContain(`Then would give (2) to qemu (uid 107, gid 36):\n  /dev/vfio/3\n  /dev/vfio/devices/vfioN of ${VF} (N: the kernel's number at bind, where it has the vfio cdev)\n`);
    expect(gave(runBin(['detach', xml, '--owner', 'qemu', '--root', h.root]).stdout)).toEqual(['/dev/vfio/3', '/dev/vfio/devices/vfio0']);
    // Held now: a second detach moves nothing and gives the same nodes again, which the dry run names exactly.
    const again = json(runBin(['detach', xml, '--dry-run', '--owner', 'qemu', '--json', '--root', h.root])).nodes;
    expect(again).toMatchObject({ paths: ['/dev/vfio/3', '/dev/vfio/devices/vfio0'], cdevsAtBind: [] });
  });
});
