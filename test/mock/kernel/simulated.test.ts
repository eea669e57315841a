import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { HostReader } from '../../../src/host/reader.js';
import { SysfsWriteError } from '../../../src/kernel/kernel.js';
import { injectFault, readSimState } from '../../../src/mock/kernel/sim-state.js';
import { SimulatedKernel } from '../../../src/mock/kernel/simulated.js';
import { VFIO_PCI as VFIO } from '../../../src/pci/driver.js';
import { formatAddress, parseAddress } from '../../../src/pci/address.js';
import { useSimulatedHosts, simulatedWrites } from '../../helpers/sim-host.js';
import { tinyHost } from '../../helpers/tiny-host.js';

const simulatedHost = useSimulatedHosts();
function sim(opts: Parameters<typeof tinyHost>[0] = {}): { root: string; kernel: SimulatedKernel } {
  const h = simulatedHost(tinyHost(opts));
  return { root: h.root, kernel: new SimulatedKernel(h.root) };
}
/** The tiny host with its PF on pci-pf-stub, a PF driver without remove(): unbinding it leaves the VFs. */
function simPfStub(opts: Parameters<typeof tinyHost>[0] = {}): { root: string; kernel: SimulatedKernel } {
  const desc = tinyHost(opts);
  desc.drivers.push({ name: 'pci-pf-stub', module: 'pci_pf_stub', state: 'loaded', ids: [] });
  desc.devices.find((d) => d.address === PF)!.driver = 'pci-pf-stub';
  const h = simulatedHost(desc);
  return { root: h.root, kernel: new SimulatedKernel(h.root) };
}

const NIC = '0000:01:00.0';
const NIC2 = '0000:02:00.0';
const BRIDGE = '0000:00:1e.0';
const PF = '0000:05:00.0';
const VF = '0000:05:10.0';
const override = (addr: string) => `/sys/bus/pci/devices/${addr}/driver_override`;
const ctl = (drv: string, f: string) => `/sys/bus/pci/drivers/${drv}/${f}`;
const PROBE = '/sys/bus/pci/drivers_probe';

/** Performs a write and returns 'ok' or the errno, as a shell's `echo > file` would see it. */
function attempt(kernel: SimulatedKernel, hostPath: string, value: string): string {
  try {
    kernel.write({ hostPath, value });
    return 'ok';
  } catch (err) {
    if (err instanceof SysfsWriteError) return err.errno;
    throw err;
  }
}
function driverOf(root: string, addr: string): string | null {
  return new HostReader(root).device(parseAddress(addr)).driver;
}
function overrideOf(root: string, addr: string): string {
  return fs.readFileSync(path.join(root, 'sys/bus/pci/devices', addr, 'driver_override'), 'utf8');
}

describe('the simulated kernel answers as Linux 6.1 does (docs/sysfs-semantics.md, the errno table)', () => {
  it.each([
    ['unbind from a driver the device is not bound to', ctl('ixgbe', 'unbind'), NIC, 'ENODEV'],
    ['unbind of an unknown address', ctl('e1000e', 'unbind'), '0000:09:00.0', 'ENODEV'],
    ['unbind of a short-form address', ctl('e1000e', 'unbind'), '01:00.0', 'ENODEV'],
    ['unbind of an upper-case address', ctl('pcieport', 'unbind'), '0000:00:1C.0', 'ENODEV'],
    ['bind to a driver that does not match the device, although it is bound elsewhere', ctl('ixgbe', 'bind'), NIC, 'ENODEV'],
    ['bind to the matching driver while bound (match before busy)', ctl('e1000e', 'bind'), NIC, 'EBUSY'],
    ['drivers_probe of an unknown address', PROBE, '0000:09:00.0', 'ENODEV'],
    ['drivers_probe of a bound device (success, no change)', PROBE, NIC, 'ok'],
    ['new_id of an ID the driver already has statically', ctl('e1000e', 'new_id'), '8086 10d3', 'EEXIST'],
    ['new_id that does not parse', ctl('vfio-pci', 'new_id'), 'nonsense', 'EINVAL'],
    ['remove_id of an ID that was never added', ctl('vfio-pci', 'remove_id'), '8086 10d3', 'ENODEV'],
    ['an override longer than a page', override(NIC), 'x'.repeat(4096), 'EINVAL'],
    ['a write to a driver that is not registered', ctl('nouveau', 'bind'), NIC, 'ENOENT'],
    ['an override of a device that does not exist', override('0000:09:00.0'), 'vfio-pci', 'ENOENT'],
  ])('%s: %s <- %s gives %s', (_l, file, value, want) => {
    const { root, kernel } = sim();
    expect(attempt(kernel, file, value)).toBe(want);
    expect(driverOf(root, NIC)).toBe('e1000e');
    expect(simulatedWrites(root)).toEqual([{ path: file, value, result: want }]);
  });

  it("uevent follows the driver as the kernel's does (DRIVER= while bound), and a VF's config space reads 0xffff for its IDs", () => {
    const { root, kernel } = sim();
    const uevent = (addr: string) => fs.readFileSync(path.join(root, 'sys/bus/pci/devices', addr, 'uevent'), 'latin1');
    expect(uevent(NIC)).toMatch(/^DRIVER=e1000e\nPCI_CLASS=20000\nPCI_ID=8086:10D3\n/);
    kernel.write({ hostPath: override(NIC), value: 'vfio-pci' });
    kernel.write({ hostPath: ctl('e1000e', 'unbind'), value: NIC });
    expect(uevent(NIC)).toMatch(/^PCI_CLASS=20000\n/);
    kernel.write({ hostPath: PROBE, value: NIC });
    expect(uevent(NIC)).toMatch(/^DRIVER=vfio-pci\nPCI_CLASS=20000\n/);
    expect(uevent(NIC).match(/^DRIVER=/gm)).toHaveLength(1);

    const sriov = simulatedHost('sriov-server');
    const vfConfig = fs.readFileSync(path.join(sriov.root, 'sys/bus/pci/devices/0000:3b:02.0/config'));
    expect([vfConfig.readUInt16LE(0), vfConfig.readUInt16LE(2)]).toEqual([0xffff, 0xffff]);
    expect(new HostReader(sriov.root).device(parseAddress('0000:3b:02.0'))).toMatchObject({ vendor: '8086', device: '154c', headerType: 0 });
  });

  it("a NIC's interface and routes leave with its driver and come back, down and unrouted, when the same driver binds again", () => {
    const h = simulatedHost('workstation');
    const kernel = new SimulatedKernel(h.root);
    kernel.loadModule(VFIO);
    const NIC_WS = '0000:00:1f.6';
    const interfaces = () => new HostReader(h.root).device(parseAddress(NIC_WS)).netInterfaces;
    const routeIfaces = () => fs.readFileSync(path.join(h.root, 'proc/net/route'), 'utf8').split('\n').slice(1).filter(Boolean).map((l) => l.split('\t')[0]);
    expect(interfaces()).toEqual(['eno1']);
    expect(routeIfaces()).toContain('eno1');

    kernel.write({ hostPath: override(NIC_WS), value: 'vfio-pci' });
    kernel.write({ hostPath: ctl('e1000e', 'unbind'), value: NIC_WS });
    expect(interfaces()).toEqual([]);
    expect(fs.existsSync(path.join(h.root, 'sys/class/net/eno1'))).toBe(false);
    expect(routeIfaces()).not.toContain('eno1');
    kernel.write({ hostPath: PROBE, value: NIC_WS }); // vfio-pci creates no interface
    expect(driverOf(h.root, NIC_WS)).toBe('vfio-pci');
    expect(interfaces()).toEqual([]);

    kernel.write({ hostPath: override(NIC_WS), value: '\n' });
    kernel.write({ hostPath: ctl('vfio-pci', 'unbind'), value: NIC_WS });
    kernel.write({ hostPath: PROBE, value: NIC_WS });
    expect(driverOf(h.root, NIC_WS)).toBe('e1000e');
    expect(interfaces()).toEqual(['eno1']);
    expect(fs.readFileSync(path.join(h.root, 'sys/class/net/eno1/operstate'), 'utf8')).toBe('down\n');
    expect(routeIfaces()).not.toContain('eno1');
  });

  it("a storage controller's disks leave with its driver (sys/class/block), and come back with it", () => {
    const h = simulatedHost('workstation');
    const kernel = new SimulatedKernel(h.root);
    const disks = () => fs.readdirSync(path.join(h.root, 'sys/class/block')).sort();
    const before = disks();
    expect(before).toContain('sda1');
    const sata = new HostReader(h.root).listAddresses().map(formatAddress).find((a) => fs.realpathSync(path.join(h.root, 'sys/class/block/sda')).includes(`/${a}/`))!;
    const driver = driverOf(h.root, sata)!;
    kernel.write({ hostPath: ctl(driver, 'unbind'), value: sata });
    expect(disks().filter((d) => d.startsWith('sd'))).toEqual([]);
    kernel.write({ hostPath: PROBE, value: sata });
    expect(driverOf(h.root, sata)).toBe(driver);
    expect(disks()).toEqual(before);
  });

  it('kernels up to 5.12 answered ENODEV where 6.1 answers EBUSY', () => {
    const { kernel } = sim({ release: '5.10.0-26-amd64' });
    expect(attempt(kernel, ctl('e1000e', 'bind'), NIC)).toBe('ENODEV');
  });

  it('an override names the only driver that may bind; writing it does not rebind anything', () => {
    const { root, kernel } = sim();
    expect(attempt(kernel, override(NIC), 'vfio-pci')).toBe('ok');
    expect(overrideOf(root, NIC)).toBe('vfio-pci\n');
    expect(driverOf(root, NIC)).toBe('e1000e');
    expect(attempt(kernel, ctl('e1000e', 'unbind'), NIC)).toBe('ok');
    expect(driverOf(root, NIC)).toBeNull();
    // bind to the host driver is refused while the override names another (no match: ENODEV)
    expect(attempt(kernel, ctl('e1000e', 'bind'), NIC)).toBe('ENODEV');
    expect(attempt(kernel, PROBE, `${NIC}\n`)).toBe('ok');
    expect(driverOf(root, NIC)).toBe('vfio-pci');
  });

  it("'\\n' clears the override (reads back (null)); a zero-length write leaves it in place", () => {
    const { root, kernel } = sim();
    attempt(kernel, override(NIC), 'vfio-pci');
    expect(attempt(kernel, override(NIC), '')).toBe('ok');
    expect(overrideOf(root, NIC)).toBe('vfio-pci\n');
    expect(attempt(kernel, override(NIC), '\n')).toBe('ok');
    expect(overrideOf(root, NIC)).toBe('(null)\n');
  });

  it('after an unbind nothing reprobes; a later drivers_probe without an override lets the host driver re-claim', () => {
    const { root, kernel } = sim();
    attempt(kernel, ctl('e1000e', 'unbind'), NIC);
    expect(driverOf(root, NIC)).toBeNull();
    attempt(kernel, PROBE, NIC);
    expect(driverOf(root, NIC)).toBe('e1000e');
  });

  it('vfio-pci refuses a bridge (EINVAL) and a PF with VFs enabled (EBUSY); a probe of them leaves them unbound', () => {
    const { root, kernel } = simPfStub();
    attempt(kernel, override(BRIDGE), 'vfio-pci');
    expect(attempt(kernel, ctl('vfio-pci', 'bind'), BRIDGE)).toBe('EINVAL');
    expect(attempt(kernel, PROBE, BRIDGE)).toBe('ok');
    expect(driverOf(root, BRIDGE)).toBeNull();
    attempt(kernel, override(PF), 'vfio-pci');
    expect(attempt(kernel, ctl('pci-pf-stub', 'unbind'), PF)).toBe('ok');
    expect(driverOf(root, VF)).toBe('ixgbevf'); // pci-pf-stub has no remove(): the VFs stay
    expect(attempt(kernel, ctl('vfio-pci', 'bind'), PF)).toBe('EBUSY');
    expect(attempt(kernel, PROBE, PF)).toBe('ok');
    expect(driverOf(root, PF)).toBeNull();
  });

  it("unbinding a PF driver with a remove() (ixgbe, igb) removes the PF's VFs, as the real kernel does (test/vm)", () => {
    const { root, kernel } = sim();
    const group = fs.readlinkSync(path.join(root, 'sys/bus/pci/devices', VF, 'iommu_group'));
    attempt(kernel, override(PF), 'vfio-pci');
    expect(attempt(kernel, ctl('ixgbe', 'unbind'), PF)).toBe('ok');
    expect(fs.existsSync(path.join(root, 'sys/bus/pci/devices', VF))).toBe(false);
    expect(fs.readdirSync(path.join(root, 'sys/bus/pci/drivers/ixgbevf'))).not.toContain(VF);
    expect(fs.existsSync(path.join(root, 'sys/kernel/iommu_groups', path.basename(group)))).toBe(false);
    expect(fs.readFileSync(path.join(root, 'sys/bus/pci/devices', PF, 'sriov_numvfs'), 'utf8')).toBe('0\n');
    expect(fs.readdirSync(path.join(root, 'sys/bus/pci/devices', PF)).filter((e) => e.startsWith('virtfn'))).toEqual([]);
    // writes naming the VF that is gone
    expect([attempt(kernel, override(VF), '\n'), attempt(kernel, PROBE, VF), attempt(kernel, ctl('ixgbevf', 'bind'), VF), attempt(kernel, ctl('ixgbevf', 'unbind'), VF)]).toEqual(['ENOENT', 'ENODEV', 'ENODEV', 'ENODEV']);
    // with its VFs gone, vfio-pci's probe takes the PF
    expect(attempt(kernel, PROBE, PF)).toBe('ok');
    expect(driverOf(root, PF)).toBe(VFIO);
  });

  it("probe refusals are the driver description's data: a variant refuses only what its description lists", () => {
    const { root, kernel } = simPfStub({ variant: true });
    attempt(kernel, override(BRIDGE), 'mlx5_vfio_pci');
    expect(attempt(kernel, ctl('mlx5_vfio_pci', 'bind'), BRIDGE)).toBe('EINVAL');
    attempt(kernel, override(PF), 'mlx5_vfio_pci');
    attempt(kernel, ctl('pci-pf-stub', 'unbind'), PF);
    expect(attempt(kernel, ctl('mlx5_vfio_pci', 'bind'), PF)).toBe('ok');
    expect(driverOf(root, PF)).toBe('mlx5_vfio_pci');
  });

  it('vfio-pci described with no probe refusals takes a bridge: the kernel has no vfio-pci branch of its own', () => {
    const desc = tinyHost();
    desc.drivers.find((d) => d.name === 'vfio-pci')!.probeRefusals = [];
    const h = simulatedHost(desc);
    const kernel = new SimulatedKernel(h.root);
    attempt(kernel, override(BRIDGE), 'vfio-pci');
    expect(attempt(kernel, ctl('vfio-pci', 'bind'), BRIDGE)).toBe('ok');
    expect(driverOf(h.root, BRIDGE)).toBe('vfio-pci');
  });

  it('vfio-pci refuses a device in no IOMMU group (IOMMU off): EINVAL', () => {
    const desc = tinyHost();
    for (const d of desc.devices) d.iommuGroup = null;
    const h = simulatedHost(desc);
    const kernel = new SimulatedKernel(h.root);
    attempt(kernel, override(NIC), 'vfio-pci');
    attempt(kernel, ctl('e1000e', 'unbind'), NIC);
    expect(attempt(kernel, ctl('vfio-pci', 'bind'), NIC)).toBe('EINVAL');
  });

  it('new_id adds a dynamic ID and at once probes every unbound matching device: the hazard with identical NICs', () => {
    const { root, kernel } = sim();
    attempt(kernel, ctl('e1000e', 'unbind'), NIC);
    attempt(kernel, ctl('e1000e', 'unbind'), NIC2);
    expect(attempt(kernel, ctl('vfio-pci', 'new_id'), '8086 10d3')).toBe('ok');
    expect([driverOf(root, NIC), driverOf(root, NIC2)]).toEqual(['vfio-pci', 'vfio-pci']);
    // new_id already bound it, so the legacy `bind` after it answers EBUSY
    expect(attempt(kernel, ctl('vfio-pci', 'bind'), NIC)).toBe('EBUSY');
    expect(attempt(kernel, ctl('vfio-pci', 'new_id'), '8086 10d3')).toBe('EEXIST');
    expect(attempt(kernel, ctl('vfio-pci', 'remove_id'), '8086 10d3')).toBe('ok');
    expect(driverOf(root, NIC)).toBe('vfio-pci'); // bound devices stay bound
    expect(attempt(kernel, ctl('vfio-pci', 'remove_id'), '8086 10d3')).toBe('ENODEV');
  });

  it('vfio-pci absent: writes to its files are ENOENT, an override still succeeds, loading it takes the overridden devices', () => {
    const { root, kernel } = sim({ vfio: 'available' });
    expect(attempt(kernel, ctl('vfio-pci', 'bind'), NIC)).toBe('ENOENT');
    expect(attempt(kernel, override(NIC), 'vfio-pci')).toBe('ok');
    attempt(kernel, ctl('e1000e', 'unbind'), NIC);
    expect(attempt(kernel, PROBE, NIC)).toBe('ok');
    expect(driverOf(root, NIC)).toBeNull(); // the override names a driver that is not there: stays unbound
    kernel.loadModule('vfio-pci' as never);
    expect(driverOf(root, NIC)).toBe('vfio-pci');
    expect(driverOf(root, NIC2)).toBe('e1000e');
    expect(fs.existsSync(path.join(root, 'sys/bus/pci/drivers/vfio-pci/bind'))).toBe(true);
  });

  it('with drivers_autoprobe = 0, a driver that registers takes nothing; a probe still binds by the override', () => {
    const { root, kernel } = sim({ vfio: 'available' });
    fs.writeFileSync(path.join(root, 'sys/bus/pci/drivers_autoprobe'), '0\n');
    attempt(kernel, override(NIC), 'vfio-pci');
    attempt(kernel, ctl('e1000e', 'unbind'), NIC);
    kernel.loadModule('vfio-pci' as never);
    expect(driverOf(root, NIC)).toBeNull();
    expect(attempt(kernel, PROBE, NIC)).toBe('ok');
    expect(driverOf(root, NIC)).toBe('vfio-pci');
  });

  it('a module the kernel does not have cannot be loaded', () => {
    const { kernel } = sim({ vfio: 'missing' });
    expect(() => kernel.loadModule('vfio-pci' as never)).toThrow(/no vfio-pci module/);
  });

  it('a kernel without driver_override (< 3.16) has no such file: ENOENT', () => {
    const { root, kernel } = sim({ driverOverride: false });
    expect(fs.existsSync(path.join(root, 'sys/bus/pci/devices', NIC, 'driver_override'))).toBe(false);
    expect(attempt(kernel, override(NIC), 'vfio-pci')).toBe('ENOENT');
  });

  it('refuses any write outside the whitelist as a bug, without touching the tree', () => {
    const { root, kernel } = sim();
    expect(() => kernel.write({ hostPath: '/sys/bus/pci/devices/0000:01:00.0/remove', value: '1' })).toThrow(/outside the whitelist/);
    expect(() => kernel.write({ hostPath: '/sys/bus/pci/drivers/../../../etc/passwd', value: 'x' })).toThrow(/outside the whitelist/);
    expect(simulatedWrites(root)).toEqual([]);
  });
});

describe('fault injection', () => {
  it('fails the Nth write with the chosen errno, once', () => {
    const { root, kernel } = sim();
    injectFault(root, { kind: 'fail', position: 2, errno: 'EIO', times: 'once' });
    expect(attempt(kernel, override(NIC), 'vfio-pci')).toBe('ok');
    expect(attempt(kernel, ctl('e1000e', 'unbind'), NIC)).toBe('EIO');
    expect(driverOf(root, NIC)).toBe('e1000e');
    expect(attempt(kernel, ctl('e1000e', 'unbind'), NIC)).toBe('ok');
    expect(readSimState(root).faults).toEqual([]);
  });

  it('fails by path, always', () => {
    const { root, kernel } = sim();
    injectFault(root, { kind: 'fail', path: PROBE, errno: 'EBUSY', times: 'always' });
    expect(attempt(kernel, PROBE, NIC)).toBe('EBUSY');
    expect(attempt(kernel, PROBE, NIC2)).toBe('EBUSY');
  });

  it('reclaim: a host driver takes the device back right after it is unbound', () => {
    const { root, kernel } = sim();
    injectFault(root, { kind: 'reclaim', address: NIC, driver: 'e1000e', times: 'once' });
    attempt(kernel, override(NIC), 'vfio-pci');
    expect(attempt(kernel, ctl('e1000e', 'unbind'), NIC)).toBe('ok');
    expect(driverOf(root, NIC)).toBe('e1000e');
  });
});
