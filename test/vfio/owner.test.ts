import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { injectFault } from '../../src/mock/kernel/sim-state.js';
import { runBin } from '../helpers/cli.js';
import { simulatedWrites, useSimulatedHosts } from '../helpers/sim-host.js';
import { domainXml, tempFile } from '../helpers/xml.js';

const host = useSimulatedHosts();
const GPU = '0000:01:00.0';

/** The host's accounts: qemu (uid 107, primary group kvm 36) and a group 'vmusers'. */
function accounts(root: string): void {
  fs.mkdirSync(path.join(root, 'etc'), { recursive: true });
  fs.writeFileSync(path.join(root, 'etc/passwd'), 'root:x:0:0:root:/root:/bin/bash\nqemu:x:107:36:QEMU:/:/usr/sbin/nologin\n');
  fs.writeFileSync(path.join(root, 'etc/group'), 'root:x:0:\nkvm:x:36:qemu\nvmusers:x:1500:\n');
}

const node = (root: string, p: string): { uid: number; gid: number; mode: number } | null => {
  const st = fs.statSync(path.join(root, p), { throwIfNoEntry: false });
  return st ? { uid: st.uid, gid: st.gid, mode: st.mode & 0o7777 } : null;
};
const journal = (root: string): any => JSON.parse(fs.readFileSync(path.join(root, 'run/vfioctl/journal.json'), 'utf8'));
const gpuXml = (): string => tempFile('gpu.xml', domainXml('gpu', [{ address: GPU, group: 'auto' }]));
const ROOT_0600 = { uid: 0, gid: 0, mode: 0o600 };

describe('/dev/vfio nodes and detach --owner', () => {
  it('the simulated kernel makes /dev/vfio/N root:root 0600 when the group reaches vfio and removes it when it leaves', () => {
    const h = host('workstation');
    const xml = gpuXml();
    expect(node(h.root, 'dev/vfio/1')).toBeNull();
    expect(runBin(['detach', xml, '--root', h.root]).code).toBe(0);
    expect(node(h.root, 'dev/vfio/1')).toEqual(ROOT_0600);
    expect(node(h.root, 'dev/vfio/vfio')).not.toBeNull();
    expect(journal(h.root).devices[GPU].nodes).toBeUndefined();
    expect(runBin(['reattach', xml, '--root', h.root]).code).toBe(0);
    expect(node(h.root, 'dev/vfio/1')).toBeNull();
  });

  it('--owner qemu gives the group node to qemu:kvm, records root:root 0600 in the journal, and reattach gives it back', () => {
    const h = host('workstation');
    accounts(h.root);
    const xml = gpuXml();
    const r = runBin(['detach', xml, '--owner', 'qemu', '--root', h.root]);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('Gave /dev/vfio/1 to qemu (uid 107, gid 36) until reattach.');
    expect(node(h.root, 'dev/vfio/1')).toEqual({ uid: 107, gid: 36, mode: 0o600 });
    for (const addr of [GPU, '0000:01:00.1']) expect(journal(h.root).devices[addr].nodes).toEqual([{ path: '/dev/vfio/1', ...ROOT_0600 }]);
    // A reattach whose first unbind fails leaves the group on vfio: its node is root's again all the same.
    injectFault(h.root, { kind: 'fail', path: `/sys/bus/pci/drivers/vfio-pci/unbind`, errno: 'EBUSY', times: 'always' });
    expect(runBin(['reattach', xml, '--root', h.root]).code).not.toBe(0);
    expect(node(h.root, 'dev/vfio/1')).toEqual(ROOT_0600);
  });

  it('USER:GROUP and numeric ids; the cdevs go to the user too; reattach removes them', () => {
    const h = host('modern-vfio');
    accounts(h.root);
    const VF = '0000:01:00.2';
    const xml = tempFile('vm.xml', domainXml('nfv', [{ address: VF }]));
    expect(runBin(['detach', xml, '--owner', '4242:vmusers', '--root', h.root]).code).toBe(0);
    expect(node(h.root, 'dev/vfio/3')).toEqual({ uid: 4242, gid: 1500, mode: 0o600 });
    expect(node(h.root, 'dev/vfio/devices/vfio0')).toEqual({ uid: 4242, gid: 1500, mode: 0o600 });
    expect(journal(h.root).devices[VF].nodes.map((n: any) => n.path)).toEqual(['/dev/vfio/3', '/dev/vfio/devices/vfio0']);
    expect(runBin(['reattach', xml, '--root', h.root]).code).toBe(0);
    expect(node(h.root, 'dev/vfio/3')).toBeNull();
    expect(node(h.root, 'dev/vfio/devices/vfio0')).toBeNull();
  });

  it.each([
    ['nobody-here', "no user 'nobody-here'"],
    ['qemu:nogroup', "no group 'nogroup'"],
    ['4242', 'uid 4242 is not in'],
    ['qemu:', 'expected USER or USER:GROUP'],
  ])('--owner %s: exit 3 before any write', (owner, message) => {
    const h = host('workstation');
    accounts(h.root);
    const r = runBin(['detach', gpuXml(), '--owner', owner, '--root', h.root]);
    expect(r.code).toBe(3);
    expect(r.stderr).toContain(message);
    expect(simulatedWrites(h.root)).toEqual([]);
    expect(node(h.root, 'dev/vfio/1')).toBeNull();
  });

  it('a journal whose node record is not a /dev/vfio node is refused (exit 13) before reattach chowns anything', () => {
    const h = host('workstation');
    accounts(h.root);
    const xml = gpuXml();
    expect(runBin(['detach', xml, '--owner', 'qemu', '--root', h.root]).code).toBe(0);
    const j = journal(h.root);
    j.devices[GPU].nodes = [{ path: '/etc/shadow', uid: 0, gid: 0, mode: 0o600 }];
    fs.writeFileSync(path.join(h.root, 'run/vfioctl/journal.json'), JSON.stringify(j));
    const r = runBin(['reattach', '--all', '--root', h.root]);
    expect(r.code).toBe(13);
    expect(r.stderr).toContain(`devices["${GPU}"].nodes holds '/etc/shadow', not a /dev/vfio node`);
    expect(node(h.root, 'dev/vfio/1')).toEqual({ uid: 107, gid: 36, mode: 0o600 });
  });
});
