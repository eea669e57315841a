import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { injectFault } from '../../src/mock/kernel/sim-state.js';
import { json, REPO, runBin } from '../helpers/cli.js';
import { useSimulatedHosts } from '../helpers/sim-host.js';
import { callHook, domainXml, installed, simHost } from '../libvirt/libvirt-sim.js';

// workstation: IOMMU group 1 is a GPU (0000:01:00.0, nouveau) and its audio function (0000:01:00.1,
// snd_hda_intel); examples/gpu-passthrough.xml names the GPU with group='auto'.
const GPU = '0000:01:00.0';
const AUDIO = '0000:01:00.1';
const XML = path.join(REPO, 'examples', 'gpu-passthrough.xml');
const ISO = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/;
const host = useSimulatedHosts();

const status = (root: string, ...more: string[]) => runBin(['status', '--root', root, ...more]);

describe('vfioctl status', () => {
  it('on a host where vfioctl holds nothing: says so, exit 0, and an empty JSON report', () => {
    const h = host('workstation');
    const r = status(h.root);
    expect(r).toMatchObject({ code: 0, stderr: '' });
    expect(r.stdout).toContain('vfioctl holds no device.\n');
    expect(r.stdout).toContain('Persisted at boot: nothing.\n');
    expect(json(status(h.root, '--json'))).toEqual({ ok: true, devices: [], operation: null, persisted: [], hooks: null, attention: [] });
  });

  it('after a detach: each device on vfio-pci, its prior driver, since when and by which command', () => {
    const h = host('workstation');
    expect(runBin(['detach', XML, '--root', h.root]).code).toBe(0);
    const r = status(h.root);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(new RegExp(`^  ${GPU}  on vfio-pci  \\(was nouveau; since \\S+, by 'detach ${XML}'\\)$`, 'm'));
    expect(r.stdout).toMatch(new RegExp(`^  ${AUDIO}  on vfio-pci  \\(was snd_hda_intel; `, 'm'));
    const j = json(status(h.root, '--json'));
    expect(j.ok).toBe(true);
    expect(j.devices).toEqual([
      { address: GPU, state: 'held', driver: 'vfio-pci', priorDriver: 'nouveau', priorOverride: null, since: expect.stringMatching(ISO), by: `detach ${XML}`, owner: null, note: null },
      { address: AUDIO, state: 'held', driver: 'vfio-pci', priorDriver: 'snd_hda_intel', priorOverride: null, since: expect.stringMatching(ISO), by: `detach ${XML}`, owner: null, note: null },
    ]);
  });

  it('list and group-info mark the devices vfioctl holds, and only those', () => {
    const h = host('workstation');
    const heldIn = (root: string): string[] =>
      json(runBin(['list', '--json', '--root', root])).groups.flatMap((g: any) => g.devices.filter((d: any) => d.held === true).map((d: any) => d.address));
    expect(heldIn(h.root)).toEqual([]);
    expect(runBin(['detach', XML, '--root', h.root]).code).toBe(0);
    expect(heldIn(h.root)).toEqual([GPU, AUDIO]);
    const info = json(runBin(['group-info', GPU, '--json', '--root', h.root]));
    expect(info.devices.map((d: any) => [d.address, d.held])).toEqual([
      ['0000:00:01.0', false],
      [GPU, true],
      [AUDIO, true],
    ]);
    const text = runBin(['group-info', GPU, '--root', h.root]).stdout;
    expect(text).toMatch(new RegExp(`^  ${AUDIO} .*\\(held by vfioctl; `, 'm'));
    expect(text).not.toMatch(/^ {2}0000:00:01\.0 .*held by vfioctl/m);
  });

  it('a journal entry whose device is on a host driver has drifted: said, with what reattach --all does with it', () => {
    const h = host('workstation');
    expect(runBin(['detach', XML, '--root', h.root]).code).toBe(0);
    const file = path.join(h.root, 'run', 'vfioctl', 'journal.json');
    const j = JSON.parse(fs.readFileSync(file, 'utf8'));
    // The audio function's record, moved to the GPU's bus as if it had been put back on its host driver by hand.
    const nic = json(runBin(['list', '--json', '--root', h.root])).groups.flatMap((g: any) => g.devices).find((d: any) => d.driver && d.driver !== 'vfio-pci' && !d.bridge);
    j.devices[nic.address] = { ...j.devices[AUDIO], driver: nic.driver, vendor: nic.vendor, device: nic.device };
    fs.writeFileSync(file, JSON.stringify(j));
    const r = json(status(h.root, '--json'));
    expect(r.ok).toBe(false);
    expect(r.devices.find((d: any) => d.address === nic.address)).toMatchObject({ state: 'drifted', driver: nic.driver });
    expect(r.attention).toEqual([expect.stringContaining(`${nic.address}: drifted: it is on ${nic.driver} now, not on a vfio driver`)]);
    expect(status(h.root).stdout).toContain(`  ${nic.address}  drifted: on ${nic.driver}  (was ${nic.driver}; `);
  });

  // The simulated kernel kills the writer once write 2 took effect, before vfioctl notes it: the journal says 1 done.
  it('an interrupted detach (killed after its second write): says so, names vfioctl reattach --all, exit 0', () => {
    const h = host('workstation');
    injectFault(h.root, { kind: 'crash', position: 2, times: 'once' });
    expect(runBin(['detach', XML, '--root', h.root]).signal).toBe('SIGKILL');
    const r = status(h.root);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(new RegExp(`^Interrupted: 'detach ${XML}' \\(pid \\d+, started \\S+\\), 1 of \\d+ writes done; complete it with: vfioctl reattach --all$`, 'm'));
    const j = json(status(h.root, '--json'));
    expect(j.ok).toBe(false);
    expect(j.operation).toMatchObject({ command: `detach ${XML}`, done: 1, running: false, complete: 'vfioctl reattach --all' });
    expect(j.attention[0]).toMatch(/was interrupted: run vfioctl reattach --all/);
    // Both carry vfio-pci in driver_override and are still on their host drivers: the move was cut short.
    expect(j.devices.map((d: any) => [d.address, d.state, d.driver])).toEqual([
      [GPU, 'moving', 'nouveau'],
      [AUDIO, 'moving', 'snd_hda_intel'],
    ]);
    expect(runBin(['reattach', '--all', '--root', h.root]).code).toBe(0);
    expect(json(status(h.root, '--json'))).toMatchObject({ ok: true, devices: [], operation: null });
  });

  it('persisted devices are listed, with the domain they were persisted for', () => {
    const h = host('workstation');
    expect(runBin(['persist', XML, '--root', h.root]).code).toBe(0);
    const r = status(h.root);
    expect(r.stdout).toContain(`Persisted at boot (vfioctl persist --list for details): ${GPU} (group 1, domain 'win11-gaming'), ${AUDIO} (group 1, domain 'win11-gaming')\n`);
    expect(json(status(h.root, '--json')).persisted).toEqual([
      { address: GPU, group: 1, mode: 'auto', source: { file: XML, kind: 'domain', name: 'win11-gaming' }, since: expect.stringMatching(ISO) },
      { address: AUDIO, group: 1, mode: 'auto', source: { file: XML, kind: 'domain', name: 'win11-gaming' }, since: expect.stringMatching(ISO) },
    ]);
  });

  it('a damaged journal is refused as every command refuses it (exit 13)', () => {
    const h = host('workstation');
    fs.mkdirSync(path.join(h.root, 'run', 'vfioctl'), { recursive: true });
    fs.writeFileSync(path.join(h.root, 'run', 'vfioctl', 'journal.json'), '{"version": 1, "devices": []');
    const r = status(h.root);
    expect(r.code).toBe(13);
    expect(r.stderr).toMatch(/journal .* is damaged: it is not JSON/);
  });
});

describe('vfioctl status after a libvirt hook moved devices', () => {
  it('names the domain each device is held for, and the hooks as installed in --libvirt-dir', () => {
    const h = simHost('qemu-q35-iommu');
    const { dir, qemu } = installed();
    const vm = { name: 'vm-a', uuid: 'aaaaaaaa-0000-4000-8000-000000000001' };
    expect(callHook(qemu, [vm.name, 'prepare', 'begin', '-'], domainXml({ ...vm, hostdevs: ['0000:02:01.0'], group: 'auto' }), h.root).code).toBe(0);
    const r = status(h.root, '--libvirt-dir', dir);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^ {2}0000:02:01\.0 {2}on vfio-pci {2}\(was e1000; since \S+, by '.*', for domain 'vm-a' \(aaaaaaaa-0000-4000-8000-000000000001\)\)$/m);
    expect(r.stdout).toContain(`libvirt hooks in ${dir}: installed\n`);
    const j = json(status(h.root, '--libvirt-dir', dir, '--json'));
    expect(j.devices.map((d: any) => [d.address, d.owner])).toEqual([
      ['0000:02:01.0', { kind: 'domain', ...vm }],
      ['0000:02:02.0', { kind: 'domain', ...vm }],
    ]);
    expect(j.hooks).toEqual({ libvirtDir: dir, installed: true, warnings: [] });
  });

  it('without --libvirt-dir on a simulated root, the hooks are not looked at (they are not under --root)', () => {
    const h = simHost('qemu-q35-iommu');
    expect(json(status(h.root, '--json')).hooks).toBeNull();
    expect(status(h.root).stdout).toContain('libvirt hooks: not looked at (--root is not /; give --libvirt-dir).\n');
  });
});
