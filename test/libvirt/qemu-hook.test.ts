import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { json, runBin } from '../helpers/cli.js';
import { simulatedWrites } from '../helpers/sim-host.js';
import { callHook, domainXml, drivers, expectBridgeGroupGivenBack, installed, journalDevices, simHost } from './libvirt-sim.js';

// qemu-q35-iommu: IOMMU group 10 is a PCIe-to-PCI bridge (0000:01:00.0) with two e1000 NICs behind it
// (0000:02:01.0, 0000:02:02.0); group 11 is one e1000e (0000:03:00.0) alone.
const NIC1 = '0000:02:01.0';
const NIC2 = '0000:02:02.0';
const BRIDGE = '0000:01:00.0';
const LONE = '0000:03:00.0';
const A = { name: 'vm-a', uuid: 'aaaaaaaa-0000-4000-8000-000000000001' };
const B = { name: 'vm-b', uuid: 'bbbbbbbb-0000-4000-8000-000000000002' };

/** One NIC of the bridge group named, group='auto': the whole group has to move. */
const vmA = domainXml({ ...A, hostdevs: [NIC1], group: 'auto' });

describe('the qemu hook, run by sh as libvirt runs it, on a simulated host', () => {
  it('prepare begin moves the whole auto group, prints nothing, and records the domain as owner', () => {
    const h = simHost('qemu-q35-iommu');
    const { qemu } = installed();
    const r = callHook(qemu, [A.name, 'prepare', 'begin', '-'], vmA, h.root);
    expect(r).toMatchObject({ code: 0, stdout: '', stderr: '' });
    const now = drivers(h.root);
    expect([now[NIC1], now[NIC2], now[BRIDGE]]).toEqual(['vfio-pci', 'vfio-pci', null]);
    const j = journalDevices(h.root);
    expect(Object.keys(j).sort()).toEqual([NIC1, NIC2]);
    expect(j[NIC2]).toMatchObject({ driver: 'e1000', owner: { kind: 'domain', ...A } });
  });

  it('a manual group that would not be viable: one line naming the device and why, exit 7, zero writes', () => {
    const h = simHost('qemu-q35-iommu');
    const { qemu } = installed();
    const r = callHook(qemu, [A.name, 'prepare', 'begin', '-'], domainXml({ ...A, hostdevs: [NIC1], group: 'manual' }), h.root);
    expect(r.code).toBe(7);
    expect(r.stdout).toBe('');
    expect(r.stderr.split('\n')).toEqual([expect.stringMatching(/^vfioctl: .*domain 'vm-a'.*IOMMU group 10 would not be viable.*0000:02:02\.0 \(it is bound to the host driver e1000\)/), '']);
    expect(simulatedWrites(h.root)).toEqual([]);
  });

  it('release end gives both NICs back to e1000 and empties the journal', () => {
    const h = simHost('qemu-q35-iommu');
    const { qemu } = installed();
    expect(callHook(qemu, [A.name, 'prepare', 'begin', '-'], vmA, h.root).code).toBe(0);
    const r = callHook(qemu, [A.name, 'release', 'end', '-'], vmA, h.root);
    expect(r).toMatchObject({ code: 0, stdout: '', stderr: '' });
    expectBridgeGroupGivenBack(h.root);
  });

  it('every other operation exits 0, prints nothing and writes nothing; migrate and restore get the XML back unchanged', () => {
    const h = simHost('qemu-q35-iommu');
    const { qemu } = installed();
    for (const [op, sub, extra] of [['start', 'begin', '-'], ['started', 'begin', '-'], ['stopped', 'end', '-'], ['reconnect', 'begin', '-'], ['attach', 'begin', '-'], ['release', 'end', 'shutdown']]) {
      expect(callHook(qemu, [A.name, op!, sub!, extra!], vmA, h.root), `${op} ${sub}`).toMatchObject({ code: 0, stdout: '', stderr: '' });
    }
    for (const op of ['migrate', 'restore']) {
      expect(callHook(qemu, [A.name, op, 'begin', '-'], vmA, h.root)).toMatchObject({ code: 0, stdout: vmA, stderr: '' });
    }
    expect(simulatedWrites(h.root)).toEqual([]);
    expect(fs.existsSync(path.join(h.root, 'run', 'vfioctl'))).toBe(false);
  });

  it('a domain without any hostdev starts and stops without a lock, a journal or a write', () => {
    const h = simHost('qemu-q35-iommu');
    const { qemu } = installed();
    const plain = domainXml({ name: 'plain', uuid: 'cccccccc-0000-4000-8000-000000000003', hostdevs: [] });
    expect(callHook(qemu, ['plain', 'prepare', 'begin', '-'], plain, h.root)).toMatchObject({ code: 0, stdout: '', stderr: '' });
    expect(callHook(qemu, ['plain', 'release', 'end', '-'], plain, h.root)).toMatchObject({ code: 0, stdout: '', stderr: '' });
    expect(fs.existsSync(path.join(h.root, 'run', 'vfioctl'))).toBe(false);
  });

  it('a start that fails after prepare begin (QEMU refuses) ends with release end, and the devices are back', () => {
    const h = simHost('qemu-q35-iommu');
    const { qemu } = installed();
    const before = drivers(h.root);
    // libvirt's order for a start whose QEMU dies: prepare, start, then stopped and release (reason 'failed' since 10.5).
    expect(callHook(qemu, [A.name, 'prepare', 'begin', '-'], vmA, h.root).code).toBe(0);
    expect(callHook(qemu, [A.name, 'start', 'begin', '-'], vmA, h.root).code).toBe(0);
    expect(drivers(h.root)[NIC2]).toBe('vfio-pci');
    expect(callHook(qemu, [A.name, 'stopped', 'end', '-'], vmA, h.root).code).toBe(0);
    expect(callHook(qemu, [A.name, 'release', 'end', 'failed'], vmA, h.root)).toMatchObject({ code: 0, stderr: '' });
    expect(drivers(h.root)).toEqual(before);
    expect(journalDevices(h.root)).toEqual({});
  });
});

describe('devices belong to the domain whose hook moved them', () => {
  it("a second domain naming a device of a group held for the first is refused, naming it, with nothing written", () => {
    const h = simHost('qemu-q35-iommu');
    const { qemu } = installed();
    expect(callHook(qemu, [A.name, 'prepare', 'begin', '-'], vmA, h.root).code).toBe(0);
    const writes = simulatedWrites(h.root).length;
    const r = callHook(qemu, [B.name, 'prepare', 'begin', '-'], domainXml({ ...B, hostdevs: [NIC2], group: 'auto' }), h.root);
    expect(r.code).toBe(7);
    expect(r.stderr).toMatch(/^vfioctl: .*0000:02:02\.0: IOMMU group 10 is held by vfioctl for domain 'vm-a' \(aaaaaaaa-0000-4000-8000-000000000001\).*virsh destroy.*\n$/);
    expect(r.stderr.trimEnd().split('\n')).toHaveLength(1);
    expect(simulatedWrites(h.root).length).toBe(writes);
    // The same domain preparing again (libvirt retrying a start) is not refused: nothing left to move.
    expect(callHook(qemu, [A.name, 'prepare', 'begin', '-'], vmA, h.root)).toMatchObject({ code: 0, stderr: '' });
  });

  it("release end of B gives back B's group and leaves A's on vfio-pci; reattach --all gives back everything", () => {
    const h = simHost('qemu-q35-iommu');
    const { qemu } = installed();
    const vmB = domainXml({ ...B, hostdevs: [LONE], group: 'auto' });
    expect(callHook(qemu, [A.name, 'prepare', 'begin', '-'], vmA, h.root).code).toBe(0);
    expect(callHook(qemu, [B.name, 'prepare', 'begin', '-'], vmB, h.root).code).toBe(0);
    expect(drivers(h.root)[LONE]).toBe('vfio-pci');
    expect(callHook(qemu, [B.name, 'release', 'end', '-'], vmB, h.root)).toMatchObject({ code: 0, stderr: '' });
    let now = drivers(h.root);
    expect([now[LONE], now[NIC1], now[NIC2]]).toEqual(['e1000e', 'vfio-pci', 'vfio-pci']);
    expect(Object.keys(journalDevices(h.root)).sort()).toEqual([NIC1, NIC2]);
    // B stopping again, or a domain of the same name with another UUID, gives back nothing of A's.
    const impostor = domainXml({ name: A.name, uuid: 'dddddddd-0000-4000-8000-000000000004', hostdevs: [] });
    expect(callHook(qemu, [A.name, 'release', 'end', '-'], impostor, h.root).code).toBe(0);
    expect(drivers(h.root)[NIC1]).toBe('vfio-pci');
    expect(callHook(qemu, [B.name, 'prepare', 'begin', '-'], vmB, h.root).code).toBe(0);
    const all = runBin(['reattach', '--all', '--root', h.root]);
    expect(all.code).toBe(0);
    now = drivers(h.root);
    expect([now[LONE], now[NIC1], now[NIC2]]).toEqual(['e1000e', 'e1000', 'e1000']);
    expect(journalDevices(h.root)).toEqual({});
  });

  it('list and group-info say who holds a group, in words and in JSON (heldBy)', () => {
    const h = simHost('qemu-q35-iommu');
    const { qemu } = installed();
    expect(json(runBin(['group-info', NIC1, '--json', '--root', h.root])).heldBy).toBeNull();
    expect(callHook(qemu, [A.name, 'prepare', 'begin', '-'], vmA, h.root).code).toBe(0);
    expect(json(runBin(['group-info', NIC2, '--json', '--root', h.root])).heldBy).toEqual({ kind: 'domain', ...A });
    const list = json(runBin(['list', '--json', '--root', h.root]));
    expect(list.groups.filter((g: any) => g.heldBy !== null).map((g: any) => [g.group, g.heldBy.name])).toEqual([[10, 'vm-a']]);
    expect(runBin(['group-info', NIC1, '--root', h.root]).stdout).toContain(`Held by vfioctl for domain 'vm-a' (${A.uuid})`);
    expect(runBin(['list', '--root', h.root]).stdout.match(/Held by vfioctl/g)).toHaveLength(1);
  });

  it('gives up on a busy lock after the documented timeout, with one line and nothing moved', () => {
    const h = simHost('qemu-q35-iommu');
    const { qemu } = installed();
    // A live vfioctl holds the host's lock: this test's own process stands in for it.
    const state = path.join(h.root, 'run', 'vfioctl');
    fs.mkdirSync(state, { recursive: true });
    fs.writeFileSync(path.join(state, 'lock'), JSON.stringify({ pid: process.pid, start: null, command: 'detach vm.xml', since: new Date().toISOString() }));
    const t0 = Date.now();
    const r = callHook(qemu, [A.name, 'prepare', 'begin', '-'], vmA, h.root, { VFIOCTL_HOOK_LOCK_TIMEOUT: '1' });
    expect(Date.now() - t0).toBeLessThan(8000);
    expect(r.code).toBe(12);
    expect(r.stderr).toMatch(new RegExp(`^vfioctl: Another vfioctl holds .*pid ${process.pid} \\(detach vm\\.xml.*Gave up after 1 s\\..*\\n$`));
    expect(r.stderr.trimEnd().split('\n')).toHaveLength(1);
    expect(simulatedWrites(h.root)).toEqual([]);
  });

  it("libvirt's arguments are taken as they are, even a domain named like an option", () => {
    const h = simHost('qemu-q35-iommu');
    const { qemu } = installed();
    const odd = domainXml({ name: '--root', uuid: 'eeeeeeee-0000-4000-8000-000000000005', hostdevs: [NIC1], group: 'auto' });
    expect(callHook(qemu, ['--root', 'prepare', 'begin', '-'], odd, h.root)).toMatchObject({ code: 0, stderr: '' });
    expect(callHook(qemu, ['--root', 'release', 'end', '-'], odd, h.root)).toMatchObject({ code: 0, stderr: '' });
    expect(drivers(h.root)[NIC1]).toBe('e1000');
  });
});

/** vmA with vfioctl's metadata element (`element`, written in its namespace) after its <uuid>, as libvirt places it. */
function withMetadata(element: string): string {
  return vmA.replace(" group='auto'", '').replace('</uuid>\n', `</uuid>\n  <metadata>\n    ${element}\n  </metadata>\n`);
}
const NS = 'xmlns:vfioctl="https://vfioctl.dev/xmlns/libvirt/1"';
const lineOf = (text: string, needle: string): number => text.slice(0, text.indexOf(needle)).split('\n').length;

describe('XML the hook cannot use: one line naming the domain and the line, a non-zero exit, nothing written', () => {
  /** Runs prepare begin; expects exit 3, one stderr line, no lock, no journal, no write; returns the line. */
  function refused(xml: string): string {
    const h = simHost('qemu-q35-iommu');
    const { qemu } = installed();
    const r = callHook(qemu, [A.name, 'prepare', 'begin', '-'], xml, h.root);
    expect(r.code).toBe(3);
    expect(r.stdout).toBe('');
    const lines = r.stderr.split('\n');
    expect(lines).toHaveLength(2);
    expect(lines[1]).toBe('');
    expect(simulatedWrites(h.root)).toEqual([]);
    expect(fs.existsSync(path.join(h.root, 'run', 'vfioctl'))).toBe(false);
    return lines[0]!;
  }

  it('damaged XML (an unclosed element): the parser\'s message at domain NAME:LINE:COLUMN', () => {
    const xml = vmA.replace('    </hostdev>\n', '');
    expect(refused(xml)).toMatch(/^vfioctl: domain 'vm-a':\d+:\d+: malformed XML: Opening and ending tag mismatch: "hostdev" != "devices"$/);
  });

  it('a metadata default that is not a mode: its element at domain NAME:LINE', () => {
    const xml = withMetadata(`<vfioctl:groups ${NS} default="sometimes"/>`);
    expect(refused(xml)).toBe(
      `vfioctl: domain 'vm-a':${lineOf(xml, '<vfioctl:groups')}: <vfioctl:groups>: default="sometimes" is not a group mode: use "auto" (move the whole IOMMU group) or "manual" (only the named device).`,
    );
  });

  it('a metadata entry for a device the domain does not assign (a typo), and a namespace version vfioctl does not read', () => {
    const typo = withMetadata(`<vfioctl:groups ${NS}><vfioctl:device address="0000:02:07.0" group="auto"/></vfioctl:groups>`);
    expect(refused(typo)).toMatch(new RegExp(`^vfioctl: domain 'vm-a':${lineOf(typo, '<vfioctl:groups')}: <vfioctl:device>: 0000:02:07\\.0 is not assigned by domain 'vm-a' `));
    const v2 = withMetadata('<vfioctl:groups xmlns:vfioctl="https://vfioctl.dev/xmlns/libvirt/2" default="auto"/>');
    expect(refused(v2)).toMatch(/^vfioctl: domain 'vm-a':5: <vfioctl:groups>: the namespace 'https:\/\/vfioctl\.dev\/xmlns\/libvirt\/2' is not one this vfioctl reads/);
  });

  it('release end does not need the metadata: a domain whose metadata was damaged while it ran still gets its devices back', () => {
    const h = simHost('qemu-q35-iommu');
    const { qemu } = installed();
    expect(callHook(qemu, [A.name, 'prepare', 'begin', '-'], withMetadata(`<vfioctl:groups ${NS} default="auto"/>`), h.root).code).toBe(0);
    expect(drivers(h.root)[NIC2]).toBe('vfio-pci');
    const damaged = withMetadata(`<vfioctl:groups ${NS} default="sometimes"/>`);
    expect(callHook(qemu, [A.name, 'release', 'end', '-'], damaged, h.root)).toMatchObject({ code: 0, stdout: '', stderr: '' });
    expect([drivers(h.root)[NIC1], drivers(h.root)[NIC2]]).toEqual(['e1000', 'e1000']);
  });
});
