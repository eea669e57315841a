import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { aliasMatches, bestVariant, parseVfioAliases } from '../../src/host/vfio-variants.js';
import { loadHostDescription } from '../../src/mock/hosts.js';
import { injectFault } from '../../src/mock/kernel/sim-state.js';
import { SimulatedKernel } from '../../src/mock/kernel/simulated.js';
import type { DriverName } from '../../src/pci/driver.js';
import { json, listedDevices, runBin } from '../helpers/cli.js';
import { simulatedWrites, useSimulatedHosts } from '../helpers/sim-host.js';
import { tempFile } from '../helpers/xml.js';

const host = useSimulatedHosts();
const VF = '0000:01:00.2';
const USB = '0000:04:00.0';
/** The PF's second VF (IOMMU group 4 on the bundled host). */
const MATE = '0000:01:00.3';

/** A domain with one hostdev and the given <driver> element. */
function vm(address: string, driver: string): string {
  const [, bus, sf] = address.split(':') as [string, string, string];
  const [slot, fn] = sf.split('.') as [string, string];
  return tempFile(
    'vm.xml',
    `<domain type='kvm'>
  <name>nfv</name>
  <devices>
    <hostdev mode='subsystem' type='pci' managed='yes'>
      ${driver}
      <source><address domain='0x0000' bus='0x${bus}' slot='0x${slot}' function='0x${fn}'/></source>
    </hostdev>
  </devices>
</domain>
`,
  );
}
const driverOf = (root: string, addr: string): string | null => listedDevices(root).find((d: any) => d.address === addr).driver;

describe('choosing a vfio driver as libvirt >= 10.0 does', () => {
  it('modules.alias: the matching vfio_pci alias with the fewest wildcards wins; none: vfio-pci', () => {
    const aliases = parseVfioAliases(
      ['alias pci:v000015B3d0000101Esv*sd*bc*sc*i* mlx5_core', 'alias vfio_pci:v*d*sv*sd*bc*sc*i* vfio_pci', 'alias vfio_pci:v000015B3d0000101Esv*sd*bc*sc*i* mlx5_vfio_pci', 'alias vfio_pci:v000015B3d*sv*sd*bc*sc*i* broad_vfio_pci'].join('\n'),
    );
    expect(aliases.map((a) => a.module)).toEqual(['vfio_pci', 'mlx5_vfio_pci', 'broad_vfio_pci']);
    expect(bestVariant('pci:v000015B3d0000101Esv000015B3sd00000016bc02sc00i00', aliases).driver).toBe('mlx5_vfio_pci');
    expect(bestVariant('pci:v000015B3d00001017sv000015B3sd00000016bc02sc00i00', aliases).driver).toBe('broad_vfio_pci');
    expect(bestVariant('pci:v00008086d00001521sv00000000sd00000000bc02sc00i00', aliases)).toMatchObject({ driver: 'vfio-pci', alias: { module: 'vfio_pci' } });
    expect(bestVariant(undefined, aliases)).toEqual({ driver: 'vfio-pci' });
    expect(aliasMatches('v0000[12]*', 'v00001X')).toBe(true);
    expect(aliasMatches('v0000[!12]*', 'v00001X')).toBe(false);
  });

  it('without a model, a detach binds the mlx5 VF to mlx5_vfio_pci (loading it), says why, and reattach gives it back', () => {
    const h = host('modern-vfio');
    const xml = vm(VF, "<driver name='vfio'/>");
    const check = json(runBin(['check', xml, '--json', '--root', h.root]));
    expect(check.exitCode).toBe(0);
    expect(check.groups[0].members[0]).toMatchObject({ address: VF, fate: 'move', target: 'mlx5_vfio_pci' });
    expect(check.notes.join('\n')).toContain("0000:01:00.2 goes to mlx5_vfio_pci: the vfio_pci alias 'v000015B3d0000101Esv*sd*bc*sc*i*' of mlx5_vfio_pci in modules.alias");
    const human = runBin(['check', xml, '--root', h.root]).stdout;
    expect(human).toContain('mlx5_core → mlx5_vfio_pci');
    const dry = json(runBin(['detach', xml, '--dry-run', '--json', '--root', h.root]));
    expect(dry.writes).toEqual([
      { path: `/sys/bus/pci/devices/${VF}/driver_override`, value: 'mlx5_vfio_pci' },
      { path: '/sys/bus/pci/drivers/mlx5_core/unbind', value: VF },
      { path: '/sys/bus/pci/drivers_probe', value: VF },
    ]);
    const r = runBin(['detach', xml, '--root', h.root]);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('now on mlx5_vfio_pci');
    expect(driverOf(h.root, VF)).toBe('mlx5_vfio_pci');
    const info = json(runBin(['group-info', VF, '--json', '--root', h.root]));
    expect(info.viable).toBe(true);
    expect(runBin(['reattach', xml, '--root', h.root]).code).toBe(0);
    expect(driverOf(h.root, VF)).toBe('mlx5_core');
  });

  it('a second detach says the VF is already on mlx5_vfio_pci, not on vfio-pci (check, dry run and run)', () => {
    const h = host('modern-vfio');
    const xml = vm(VF, "<driver name='vfio'/>");
    expect(runBin(['detach', xml, '--root', h.root]).code).toBe(0);
    const again = runBin(['detach', xml, '--root', h.root]);
    expect(again.code).toBe(0);
    expect(again.stdout).toContain('Nothing to do: every device is already on a vfio driver (mlx5_vfio_pci).');
    expect(again.stdout).toContain(`${VF}  already on mlx5_vfio_pci`);
    expect(again.stdout).not.toContain('vfio-pci');
    expect(runBin(['detach', xml, '--dry-run', '--root', h.root]).stdout).toContain('Nothing to do: every device is already on a vfio driver (mlx5_vfio_pci).');
    expect(runBin(['check', xml, '--root', h.root]).stdout).toContain(`already on mlx5_vfio_pci  ${VF}`);
  });

  it("model='vfio-pci' forces the generic driver", () => {
    const h = host('modern-vfio');
    const xml = vm(VF, "<driver name='vfio' model='vfio-pci'/>");
    const dry = json(runBin(['detach', xml, '--dry-run', '--json', '--root', h.root]));
    expect(dry.writes[0]).toEqual({ path: `/sys/bus/pci/devices/${VF}/driver_override`, value: 'vfio-pci' });
    expect(dry.notes.join('\n')).toContain("0000:01:00.2 goes to vfio-pci: <driver model='vfio-pci'/> at");
    expect(runBin(['detach', xml, '--root', h.root]).code).toBe(0);
    expect(driverOf(h.root, VF)).toBe('vfio-pci');
  });

  it('a named model that does not match the device is refused before any write (exit 3)', () => {
    const h = host('modern-vfio');
    const r = runBin(['detach', vm(USB, "<driver model='mlx5_vfio_pci'/>"), '--root', h.root]);
    expect(r.code).toBe(3);
    expect(r.stderr).toContain('mlx5_vfio_pci does not support 0000:04:00.0 (1022:15b6): none of its vfio_pci aliases in modules.alias matches');
    expect(simulatedWrites(h.root)).toEqual([]);
    expect(driverOf(h.root, USB)).toBe('xhci_hcd');
  });

  it('a named model that is not installed is refused before any write (exit 8)', () => {
    const h = host('modern-vfio');
    const r = runBin(['check', vm(VF, "<driver name='vfio' model='nvgrace_gpu_vfio_pci'/>"), '--root', h.root]);
    expect(r.code).toBe(8);
    expect(r.stdout).toContain('nvgrace_gpu_vfio_pci is neither loaded nor installed for this kernel');
    expect(runBin(['detach', vm(VF, "<driver model='nvgrace_gpu_vfio_pci'/>"), '--root', h.root]).code).toBe(8);
    expect(simulatedWrites(h.root)).toEqual([]);
  });

  it("model= with name='kvm' is an XML error", () => {
    const h = host('modern-vfio');
    const r = runBin(['check', vm(VF, "<driver name='kvm' model='mlx5_vfio_pci'/>"), '--root', h.root]);
    expect(r.code).toBe(3);
    expect(r.stderr).toContain("model='mlx5_vfio_pci' is only valid with <driver name='vfio'/>");
  });
});

describe('the simulated kernel binds a variant as Linux does', () => {
  it('its override-only table matches no device without an override; an override naming it binds it', () => {
    const desc = loadHostDescription('modern-vfio');
    // Registered first, so a probe would try it before mlx5_core if its table matched without an override.
    const variant = desc.drivers.find((d) => d.name === 'mlx5_vfio_pci')!;
    variant.state = 'loaded';
    desc.drivers = [variant, ...desc.drivers.filter((d) => d !== variant)];
    const h = host(desc);
    const kernel = new SimulatedKernel(h.root);
    kernel.write({ hostPath: '/sys/bus/pci/drivers/mlx5_core/unbind', value: VF });
    kernel.write({ hostPath: '/sys/bus/pci/drivers_probe', value: VF });
    expect(driverOf(h.root, VF)).toBe('mlx5_core');
    kernel.write({ hostPath: `/sys/bus/pci/devices/${VF}/driver_override`, value: 'mlx5_vfio_pci' });
    kernel.write({ hostPath: '/sys/bus/pci/drivers/mlx5_core/unbind', value: VF });
    kernel.write({ hostPath: '/sys/bus/pci/drivers_probe', value: VF });
    expect(driverOf(h.root, VF)).toBe('mlx5_vfio_pci');
  });
});

describe('a device already on a vfio driver: moved only when its <driver model=> names another, as libvirt does', () => {
  const GENERIC = "<driver name='vfio' model='vfio-pci'/>";
  const VARIANT = "<driver name='vfio' model='mlx5_vfio_pci'/>";
  const journalEntry = (root: string, addr: string): any => JSON.parse(fs.readFileSync(path.join(root, 'run/vfioctl/journal.json'), 'utf8')).devices[addr];

  /** modern-vfio with the VF put on mlx5_vfio_pci by hand (override, unbind, probe), as an admin would: no journal entry. */
  function onVariantByHand(): string {
    const h = host('modern-vfio');
    const kernel = new SimulatedKernel(h.root);
    kernel.loadModule('mlx5_vfio_pci' as DriverName);
    kernel.write({ hostPath: `/sys/bus/pci/devices/${VF}/driver_override`, value: 'mlx5_vfio_pci' });
    kernel.write({ hostPath: '/sys/bus/pci/drivers/mlx5_core/unbind', value: VF });
    kernel.write({ hostPath: '/sys/bus/pci/drivers_probe', value: VF });
    expect(driverOf(h.root, VF)).toBe('mlx5_vfio_pci');
    return h.root;
  }

  it("on mlx5_vfio_pci (vfioctl put it there), model='vfio-pci': check, the exact writes, vfio-pci after, mlx5_core after reattach", () => {
    const { root } = host('modern-vfio');
    expect(runBin(['detach', vm(VF, "<driver name='vfio'/>"), '--root', root]).code).toBe(0);
    expect(driverOf(root, VF)).toBe('mlx5_vfio_pci');
    const xml = vm(VF, GENERIC);
    expect(runBin(['check', xml, '--root', root]).stdout).toContain('mlx5_vfio_pci → vfio-pci  [named in the XML]');
    expect(json(runBin(['check', xml, '--json', '--root', root])).groups[0].members[0]).toMatchObject({ address: VF, driver: 'mlx5_vfio_pci', fate: 'move', target: 'vfio-pci' });
    const dry = json(runBin(['detach', xml, '--dry-run', '--json', '--root', root]));
    expect(dry.writes).toEqual([
      { path: `/sys/bus/pci/devices/${VF}/driver_override`, value: 'vfio-pci' },
      { path: '/sys/bus/pci/drivers/mlx5_vfio_pci/unbind', value: VF },
      { path: '/sys/bus/pci/drivers_probe', value: VF },
    ]);
    expect(dry.devices).toEqual([{ address: VF, group: 3, from: 'mlx5_vfio_pci', to: 'vfio-pci', action: 'would-move' }]);
    const r = runBin(['detach', xml, '--root', root]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain('now on vfio-pci');
    expect(driverOf(root, VF)).toBe('vfio-pci');
    // The first record stays: the driver the VF had before vfioctl first moved it.
    expect(journalEntry(root, VF)).toMatchObject({ driver: 'mlx5_core', override: null });
    expect(runBin(['reattach', xml, '--root', root]).code).toBe(0);
    expect(driverOf(root, VF)).toBe('mlx5_core');
  });

  it("on vfio-pci, model='mlx5_vfio_pci': loads the variant, moves the VF to it, and reattach gives it back to mlx5_core", () => {
    const { root } = host('modern-vfio');
    expect(runBin(['detach', vm(VF, GENERIC), '--root', root]).code).toBe(0);
    expect(driverOf(root, VF)).toBe('vfio-pci');
    const xml = vm(VF, VARIANT);
    expect(runBin(['check', xml, '--root', root]).stdout).toContain('vfio-pci → mlx5_vfio_pci  [named in the XML]');
    expect(json(runBin(['detach', xml, '--dry-run', '--json', '--root', root])).writes).toEqual([
      { path: `/sys/bus/pci/devices/${VF}/driver_override`, value: 'mlx5_vfio_pci' },
      { path: '/sys/bus/pci/drivers/vfio-pci/unbind', value: VF },
      { path: '/sys/bus/pci/drivers_probe', value: VF },
    ]);
    expect(runBin(['detach', xml, '--root', root]).code).toBe(0);
    expect(driverOf(root, VF)).toBe('mlx5_vfio_pci');
    expect(runBin(['reattach', xml, '--root', root]).code).toBe(0);
    expect(driverOf(root, VF)).toBe('mlx5_core');
  });

  it("put on mlx5_vfio_pci by hand, model='vfio-pci': the journal records mlx5_vfio_pci, and reattach gives the VF back to it", () => {
    const root = onVariantByHand();
    const xml = vm(VF, GENERIC);
    expect(runBin(['check', xml, '--root', root]).stdout).toContain('mlx5_vfio_pci → vfio-pci');
    const r = runBin(['detach', xml, '--root', root]);
    expect(r.code, r.stderr).toBe(0);
    expect(driverOf(root, VF)).toBe('vfio-pci');
    expect(journalEntry(root, VF)).toMatchObject({ driver: 'mlx5_vfio_pci', override: 'mlx5_vfio_pci' });
    const back = runBin(['reattach', xml, '--root', root]);
    expect(back.code, back.stderr).toBe(0);
    expect(driverOf(root, VF)).toBe('mlx5_vfio_pci');
    expect(journalEntry(root, VF)).toBeUndefined();
  });

  it('put on mlx5_vfio_pci by hand, its override cleared since: reattach names the variant in the override again to give it back', () => {
    const root = onVariantByHand();
    new SimulatedKernel(root).write({ hostPath: `/sys/bus/pci/devices/${VF}/driver_override`, value: '\n' });
    const xml = vm(VF, GENERIC);
    expect(runBin(['detach', xml, '--root', root]).code).toBe(0);
    expect(journalEntry(root, VF)).toMatchObject({ driver: 'mlx5_vfio_pci', override: null });
    const back = runBin(['reattach', xml, '--root', root]);
    expect(back.code, back.stderr).toBe(0);
    expect(driverOf(root, VF)).toBe('mlx5_vfio_pci');
    expect(listedDevices(root).find((d: any) => d.address === VF).driverOverride).toBe('mlx5_vfio_pci');
  });

  it('a refused probe rolls the VF put on mlx5_vfio_pci by hand back to mlx5_vfio_pci, its override included (exit 10)', () => {
    const root = onVariantByHand();
    injectFault(root, { kind: 'fail', errno: 'EIO', path: '/sys/bus/pci/drivers_probe', times: 'once' });
    const r = runBin(['detach', vm(VF, GENERIC), '--root', root]);
    expect(r.code, r.stderr).toBe(10);
    expect(r.stderr).toContain(`Rolled back: ${VF} is back on its original driver.`);
    expect(driverOf(root, VF)).toBe('mlx5_vfio_pci');
    expect(listedDevices(root).find((d: any) => d.address === VF).driverOverride).toBe('mlx5_vfio_pci');
    expect(journalEntry(root, VF)).toBeUndefined();
  });

  it('a hostdev network naming a VF vfioctl holds by its (gone) interface: loading the variant for the other VF keeps it found', () => {
    const { root } = host('modern-vfio');
    expect(runBin(['detach', vm(VF, GENERIC), '--root', root]).code).toBe(0);
    const pool = tempFile('pool.xml', "<network><name>pool</name><forward mode='hostdev' managed='yes'><interface dev='ens1f0v0'/><interface dev='ens1f0v1'/></forward></network>");
    const r = runBin(['detach', pool, '--root', root]);
    expect(r.code, r.stderr).toBe(0);
    expect([driverOf(root, VF), driverOf(root, MATE)]).toEqual(['vfio-pci', 'mlx5_vfio_pci']);
  });

  it('without a model, a device on any vfio driver stays there (libvirt picks no variant for it), with no write', () => {
    const root = onVariantByHand();
    const onVariant = runBin(['detach', vm(VF, "<driver name='vfio'/>"), '--root', root]);
    expect(onVariant.stdout).toContain('Nothing to do: every device is already on a vfio driver (mlx5_vfio_pci).');
    expect(runBin(['check', vm(VF, VARIANT), '--root', root]).stdout).toContain(`already on mlx5_vfio_pci  ${VF}`);
    const generic = host('modern-vfio').root;
    expect(runBin(['detach', vm(VF, GENERIC), '--root', generic]).code).toBe(0);
    const writes = simulatedWrites(generic).length;
    // mlx5_vfio_pci's alias matches the VF, yet the VF stays on vfio-pci.
    expect(runBin(['detach', vm(VF, "<driver name='vfio'/>"), '--root', generic]).stdout).toContain('Nothing to do: every device is already on vfio-pci.');
    expect(simulatedWrites(generic).length).toBe(writes);
    expect(driverOf(generic, VF)).toBe('vfio-pci');
  });

  it("group='auto': the named VF moves to its model, a group mate stays on the vfio driver it is on", () => {
    // Both VFs in one IOMMU group (no ACS between them): the mate is moved by group='auto' only.
    const desc = loadHostDescription('modern-vfio');
    desc.devices.find((d) => d.address === MATE)!.iommuGroup = 3;
    const { root } = host(desc);
    const both = vm(VF, "<driver name='vfio' group='auto'/>");
    expect(runBin(['detach', both, '--root', root]).code).toBe(0);
    expect([driverOf(root, VF), driverOf(root, MATE)]).toEqual(['mlx5_vfio_pci', 'mlx5_vfio_pci']);
    const xml = vm(VF, "<driver name='vfio' model='vfio-pci' group='auto'/>");
    const dry = json(runBin(['detach', xml, '--dry-run', '--json', '--root', root]));
    expect(dry.devices).toEqual([
      { address: VF, group: 3, from: 'mlx5_vfio_pci', to: 'vfio-pci', action: 'would-move' },
      { address: MATE, group: 3, from: 'mlx5_vfio_pci', to: 'mlx5_vfio_pci', action: 'already' },
    ]);
    expect(dry.writes.map((w: any) => w.path)).toEqual([`/sys/bus/pci/devices/${VF}/driver_override`, '/sys/bus/pci/drivers/mlx5_vfio_pci/unbind', '/sys/bus/pci/drivers_probe']);
    expect(runBin(['detach', xml, '--root', root]).code).toBe(0);
    expect([driverOf(root, VF), driverOf(root, MATE)]).toEqual(['vfio-pci', 'mlx5_vfio_pci']);
    expect(runBin(['reattach', xml, '--root', root]).code).toBe(0);
    expect([driverOf(root, VF), driverOf(root, MATE)]).toEqual(['mlx5_core', 'mlx5_core']);
  });
});
