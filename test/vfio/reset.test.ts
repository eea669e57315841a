import { describe, expect, it } from 'vitest';
import { loadHostDescription } from '../../src/mock/hosts.js';
import { json, listedDevices, runBin } from '../helpers/cli.js';
import { useSimulatedHosts } from '../helpers/sim-host.js';
import { domainXml, tempFile } from '../helpers/xml.js';

const host = useSimulatedHosts();
const GPU = '0000:03:00.0';
const USB = '0000:04:00.0';
const VF = '0000:01:00.2';

describe('reset methods', () => {
  it('list and group-info report reset_method per device, human and --json', () => {
    const h = host('modern-vfio');
    const byAddr = Object.fromEntries(listedDevices(h.root).map((d: any) => [d.address, d.reset]));
    expect(byAddr[GPU]).toEqual({ resettable: true, methods: ['bus'] });
    expect(byAddr[USB]).toEqual({ resettable: false, methods: [] });
    expect(byAddr[VF]).toEqual({ resettable: true, methods: ['flr'] });
    const info = json(runBin(['group-info', GPU, '--json', '--root', h.root]));
    expect(info.devices.map((d: any) => d.reset.methods)).toEqual([['pm'], ['bus'], ['pm']]);
    expect(runBin(['group-info', GPU, '--root', h.root]).stdout).toContain('driver: amdgpu  (reset: bus)');
    expect(runBin(['group-info', USB, '--root', h.root]).stdout).toContain('driver: xhci_hcd  (no reset method)');
  });

  it('check and detach warn about an endpoint without reset, and one reset only with its bus, naming AMD GPUs', () => {
    const h = host('modern-vfio');
    const xml = tempFile('gpu.xml', domainXml('g', [{ address: GPU, group: 'auto' }, { address: USB, group: 'auto' }]));
    const check = json(runBin(['check', xml, '--json', '--root', h.root]));
    expect(check.exitCode).toBe(0);
    expect(check.notes).toEqual([
      `${GPU} can only be reset by a bus reset, which also resets 0000:03:00.1 on the same bus. It is an AMD GPU: many of them fail to reset between VM runs; the vendor-reset module (out of tree) adds a device_specific reset for them.`,
      `${USB} has no reset method (its reset_method is empty): the VM gets it, and the host gets it back, in whatever state its last user left it.`,
    ]);
    const dry = runBin(['detach', xml, '--dry-run', '--root', h.root]);
    expect(dry.stdout).toContain(`note: ${USB} has no reset method`);
    const real = json(runBin(['detach', xml, '--json', '--root', h.root]));
    expect(real.notes).toEqual(check.notes);
  });

  it('a device with FLR brings no warning', () => {
    const h = host('modern-vfio');
    const check = json(runBin(['check', tempFile('vf.xml', domainXml('v', [{ address: VF }])), '--json', '--root', h.root]));
    expect(check.notes.filter((n: string) => n.includes('reset'))).toEqual([]);
  });

  it('before 5.15 there is no reset_method: methods null, resettable from the reset file', () => {
    const desc = loadHostDescription('modern-vfio');
    desc.kernel.release = '5.10.0-30-amd64';
    const h = host(desc);
    const byAddr = Object.fromEntries(listedDevices(h.root).map((d: any) => [d.address, d.reset]));
    expect(byAddr[GPU]).toEqual({ resettable: true, methods: null });
    expect(byAddr[USB]).toEqual({ resettable: false, methods: null });
    expect(runBin(['group-info', GPU, '--root', h.root]).stdout).toContain('driver: amdgpu  (resettable)');
  });
});
