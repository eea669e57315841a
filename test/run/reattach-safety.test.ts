import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { injectFault } from '../../src/mock/kernel/sim-state.js';
import { SimulatedKernel } from '../../src/mock/kernel/simulated.js';
import { holdVfioNode, releaseVfioNode } from '../../src/mock/kernel/vfio-users.js';
import { runBin } from '../helpers/cli.js';
import { simulatedWrites } from '../helpers/sim-host.js';
import { domainXml as userDomainXml, tempFile } from '../helpers/xml.js';
import { callHook, domainXml, drivers, installed, journalDevices, simHost, tempXml } from '../libvirt/libvirt-sim.js';

// The bundled workstation: the GPU (nouveau) and its audio function (snd_hda_intel), IOMMU group 1.
const GPU = '0000:01:00.0';
const AUDIO = '0000:01:00.1';
const FAST = { VFIOCTL_VERIFY_TIMEOUT_MS: '50' };

/** The workstation with its GPU group detached by `vfioctl detach` (no owner); returns the root and the XML. */
function detachedWorkstation(): { root: string; xml: string } {
  const h = simHost('workstation');
  const xml = tempFile('gpu.xml', userDomainXml('gpu', [{ address: GPU, group: 'auto' }]));
  const r = runBin(['detach', xml, '--root', h.root]);
  expect(r.code, r.stderr).toBe(0);
  return { root: h.root, xml };
}

describe("reattach verifies its unbinds, as detach does", () => {
  it('a device vfio-pci takes again right after its unbind: stopped at that unbind, named; the rest goes back; exit 11', () => {
    const { root, xml } = detachedWorkstation();
    injectFault(root, { kind: 'reclaim', address: GPU, driver: 'vfio-pci', times: 'always' });
    const r = runBin(['reattach', xml, '--root', root], FAST);
    expect(r.code).toBe(11);
    expect(r.stderr).toContain(
      `After writing '${GPU}' to '/sys/bus/pci/drivers/vfio-pci/unbind', ${GPU} is bound to vfio-pci (vfio-pci took it again: something probed it), not unbound (waited 50 ms).`,
    );
    // The GPU was never offered to nouveau while vfio-pci held it: no bind of it was attempted.
    expect(simulatedWrites(root).filter((w) => w.path === '/sys/bus/pci/drivers/nouveau/bind')).toEqual([]);
    const now = drivers(root);
    expect([now[GPU], now[AUDIO]]).toEqual(['vfio-pci', 'snd_hda_intel']);
    expect(Object.keys(journalDevices(root))).toEqual([GPU]);
  });
});

// qemu-q35-iommu: IOMMU group 10 holds two e1000 NICs behind a PCIe-to-PCI bridge.
const NIC1 = '0000:02:01.0';
const NIC2 = '0000:02:02.0';
const A = { name: 'vm-a', uuid: 'aaaaaaaa-0000-4000-8000-000000000001' };
const B = { name: 'vm-b', uuid: 'bbbbbbbb-0000-4000-8000-000000000002' };

/** qemu-q35-iommu with group 10 moved by libvirt's hook for vm-a (its journal owner). */
function heldForA(): string {
  const h = simHost('qemu-q35-iommu');
  const r = callHook(installed().qemu, [A.name, 'prepare', 'begin', '-'], domainXml({ ...A, hostdevs: [NIC1], group: 'auto' }), h.root);
  expect(r.code, r.stderr).toBe(0);
  return h.root;
}

describe('reattach FILE by hand honours the owner the journal records', () => {
  it("another domain's XML naming vm-a's devices: refused with exit 7, naming vm-a and virsh destroy, nothing written (dry run too)", () => {
    const root = heldForA();
    const xml = tempXml('vm-b.xml', domainXml({ ...B, hostdevs: [NIC1], group: 'auto' }));
    const writes = simulatedWrites(root).length;
    for (const dry of [[], ['--dry-run']]) {
      const r = runBin(['reattach', xml, ...dry, '--root', root]);
      expect(r.code).toBe(7);
      expect(r.stderr).toContain(
        `Nothing was given back: ${xml} is domain 'vm-b' (${B.uuid}), and vfioctl holds devices it names for another:\n  - ${NIC1}, ${NIC2}: for domain 'vm-a' (${A.uuid}), which may be running with them (\`virsh destroy vm-a\` stops it)`,
      );
      expect(r.stderr).toContain('--force');
    }
    expect(simulatedWrites(root).length).toBe(writes);
    const now = drivers(root);
    expect([now[NIC1], now[NIC2]]).toEqual(['vfio-pci', 'vfio-pci']);
    expect(journalDevices(root)[NIC1]).toMatchObject({ owner: { kind: 'domain', ...A } });
  });

  it("the holder's own XML gives them back; so does another's with --force", () => {
    for (const [spec, extra] of [[A, []], [B, ['--force']]] as const) {
      const root = heldForA();
      const xml = tempXml('vm.xml', domainXml({ ...spec, hostdevs: [NIC1], group: 'auto' }));
      const r = runBin(['reattach', xml, ...extra, '--root', root]);
      expect(r.code, r.stderr).toBe(0);
      const now = drivers(root);
      expect([now[NIC1], now[NIC2]]).toEqual(['e1000', 'e1000']);
      expect(journalDevices(root)).toEqual({});
    }
  });

  it('a file without <uuid> is matched by name, as the hook matches it', () => {
    const root = heldForA();
    const xml = tempXml('vm-a.xml', domainXml({ ...A, hostdevs: [NIC1], group: 'auto' }).replace(/ {2}<uuid>.*<\/uuid>\n/, ''));
    expect(runBin(['reattach', xml, '--root', root]).code).toBe(0);
    const other = heldForA();
    const xmlB = tempXml('vm-b.xml', domainXml({ ...B, hostdevs: [NIC1], group: 'auto' }).replace(/ {2}<uuid>.*<\/uuid>\n/, ''));
    expect(runBin(['reattach', xmlB, '--root', other]).code).toBe(7);
  });
});

const QEMU = { pid: 4242, comm: 'qemu-system-x86' };

describe('reattach of a group a VM still holds: refused at once (exit 12), never a hang', () => {
  it('by hand, the group node held: names the group, its devices and the process; zero writes; given back once it lets go', () => {
    const { root, xml } = detachedWorkstation();
    holdVfioNode(root, '/dev/vfio/1', QEMU);
    const writes = simulatedWrites(root).length;
    const journal = JSON.stringify(journalDevices(root));
    for (const extra of [[], ['--force'], ['--all']]) {
      const started = Date.now();
      const r = runBin(['reattach', ...(extra[0] === '--all' ? [] : [xml]), ...extra, '--root', root]);
      expect(Date.now() - started).toBeLessThan(10_000);
      expect(r.code, r.stderr).toBe(12);
      expect(r.stderr).toContain(
        `vfioctl: Nothing was given back: a process still uses these devices through VFIO (most likely a running VM), and unbinding them from their vfio driver would block until it lets go:\n  - ${GPU}, ${AUDIO} (IOMMU group 1): /dev/vfio/1 is held open by qemu-system-x86 (pid 4242).`,
      );
      expect(r.stderr).toContain('Stop the process holding the node first (a VM: `virsh destroy NAME`, or end it), then run this again. --force does not override this.');
    }
    expect(simulatedWrites(root).length).toBe(writes);
    expect(JSON.stringify(journalDevices(root))).toBe(journal);
    expect([drivers(root)[GPU], drivers(root)[AUDIO]]).toEqual(['vfio-pci', 'vfio-pci']);
    releaseVfioNode(root, '/dev/vfio/1');
    expect(runBin(['reattach', xml, '--root', root]).code).toBe(0);
    expect([drivers(root)[GPU], drivers(root)[AUDIO]]).toEqual(['nouveau', 'snd_hda_intel']);
  });

  it("a group the hook moved for vm-a: the hint is `virsh destroy vm-a`; the hook's own release is refused the same way", () => {
    const root = heldForA();
    holdVfioNode(root, '/dev/vfio/10', QEMU);
    const xml = tempXml('vm-a.xml', domainXml({ ...A, hostdevs: [NIC1], group: 'auto' }));
    const r = runBin(['reattach', xml, '--root', root]);
    expect(r.code).toBe(12);
    expect(r.stderr).toContain(`  - ${NIC1}, ${NIC2} (IOMMU group 10): /dev/vfio/10 is held open by qemu-system-x86 (pid 4242).`);
    expect(r.stderr).toContain(`Stop the VM first: \`virsh destroy vm-a\` (the journal records domain 'vm-a' (${A.uuid}) for them), then run this again.`);
    const release = callHook(installed().qemu, [A.name, 'release', 'end', '-'], domainXml({ ...A, hostdevs: [NIC1], group: 'auto' }), root);
    expect(release.code).toBe(12);
    expect([drivers(root)[NIC1], drivers(root)[NIC2]]).toEqual(['vfio-pci', 'vfio-pci']);
  });

  it('--dry-run opens nothing, prints its writes, says from /proc who holds the group, and exits 12 as the run would', () => {
    const { root, xml } = detachedWorkstation();
    holdVfioNode(root, '/dev/vfio/1', QEMU);
    const writes = simulatedWrites(root).length;
    const note = `In use: ${GPU}, ${AUDIO} (IOMMU group 1): /dev/vfio/1 is held open by qemu-system-x86 (pid 4242). The reattach itself would be refused (exit 12) until it lets go.`;
    const r = runBin(['reattach', xml, '--dry-run', '--json', '--root', root]);
    expect(r.code, r.stderr).toBe(12);
    const json = JSON.parse(r.stdout);
    expect(json.notes).toContain(note);
    expect(json.exitCode).toBe(12);
    expect(json.writes).toContainEqual({ path: '/sys/bus/pci/drivers/vfio-pci/unbind', value: GPU });
    const text = runBin(['reattach', xml, '--dry-run', '--root', root]);
    expect(text.code).toBe(12);
    expect(text.stdout).toContain(`/sys/bus/pci/drivers/vfio-pci/unbind`);
    expect(text.stdout).toContain(note);
    expect(simulatedWrites(root).length).toBe(writes);
    releaseVfioNode(root, '/dev/vfio/1');
    const free = runBin(['reattach', xml, '--dry-run', '--json', '--root', root]);
    expect(free.code).toBe(0);
    expect(JSON.parse(free.stdout).exitCode).toBeUndefined();
  });

  it('a group node vfioctl may not open (EACCES, EPERM: not root) is a permission problem: exit 9, not busy; nothing written', () => {
    for (const errno of ['EACCES', 'EPERM']) {
      const { root, xml } = detachedWorkstation();
      injectFault(root, { kind: 'fail', errno, path: '/dev/vfio/1', times: 'always' });
      const writes = simulatedWrites(root).length;
      const r = runBin(['reattach', xml, '--root', root]);
      expect(r.code, r.stderr).toBe(9);
      expect(r.stderr).toContain(
        `vfioctl: Nothing was given back: vfioctl may not open /dev/vfio/1 (${errno}, ${errno === 'EACCES' ? 'permission denied' : 'operation not permitted'}; ${GPU}, ${AUDIO} (IOMMU group 1)), and needs root to tell whether a VM holds the group.`,
      );
      expect(r.stderr).toContain('Run vfioctl as root (sudo); nothing was written.');
      expect(simulatedWrites(root).length).toBe(writes);
      expect([drivers(root)[GPU], drivers(root)[AUDIO]]).toEqual(['vfio-pci', 'vfio-pci']);
    }
  });

  it('a holder vfioctl cannot see in /proc (EBUSY alone) is still refused, and said to be unknown', () => {
    const { root, xml } = detachedWorkstation();
    holdVfioNode(root, '/dev/vfio/1', QEMU);
    fs.rmSync(path.join(root, 'proc', String(QEMU.pid)), { recursive: true });
    const r = runBin(['reattach', xml, '--root', root]);
    expect(r.code).toBe(12);
    expect(r.stderr).toContain(`  - ${GPU}, ${AUDIO} (IOMMU group 1): /dev/vfio/1 is held open by another process (the kernel answered EBUSY to vfioctl's open of it).`);
  });

  it('a kernel with the vfio cdev: a VM on the device cdev (iommufd) holds the group too', () => {
    const h = simHost('modern-vfio');
    const VF = '0000:01:00.2';
    const xml = tempFile('nfv.xml', userDomainXml('nfv', [{ address: VF }]));
    expect(runBin(['detach', xml, '--root', h.root]).code).toBe(0);
    holdVfioNode(h.root, '/dev/vfio/devices/vfio0', QEMU);
    const r = runBin(['reattach', xml, '--root', h.root]);
    expect(r.code).toBe(12);
    expect(r.stderr).toContain(`  - ${VF} (IOMMU group 3): /dev/vfio/devices/vfio0 is held open by qemu-system-x86 (pid 4242).`);
    expect(drivers(h.root)[VF]).toBe('mlx5_vfio_pci');
  });
});

describe('the simulated kernel models a held group as Linux does', () => {
  it('the group node opens (null) when free, EBUSY while held, ENOENT without a vfio member; an unbind of a held member fails the command instead of hanging', () => {
    const { root } = detachedWorkstation();
    const kernel = new SimulatedKernel(root);
    expect(kernel.probeGroupNode('/dev/vfio/1')).toBeNull();
    expect(kernel.probeGroupNode('/dev/vfio/7')).toBe('ENOENT');
    holdVfioNode(root, '/dev/vfio/1', QEMU);
    expect(kernel.probeGroupNode('/dev/vfio/1')).toBe('EBUSY');
    expect(() => kernel.write({ hostPath: '/sys/bus/pci/drivers/vfio-pci/unbind', value: GPU })).toThrow(
      `simulated kernel: unbinding ${GPU} from vfio-pci would block in Linux until the process holding IOMMU group 1 lets go (a hang); a caller must not write it.`,
    );
    expect(drivers(root)[GPU]).toBe('vfio-pci');
    releaseVfioNode(root, '/dev/vfio/1');
    expect(kernel.probeGroupNode('/dev/vfio/1')).toBeNull();
  });
});
