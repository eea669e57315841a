import { describe, expect, it } from 'vitest';
import { HostLayout } from '../../src/host/layout.js';
import { VFIO_PCI } from '../../src/pci/driver.js';
import type { PciDevice } from '../../src/pci/device.js';
import { priorBindingOf, planDetachWrites, planRestoreWrites } from '../../src/plan/writes.js';
import { drv, fakeDevice } from '../helpers/devices.js';

const layout = new HostLayout('/irrelevant');
/** Moves to vfio-pci, the target the planner decides today. */
const toVfio = (...devs: PciDevice[]) => devs.map((dev) => ({ dev, target: VFIO_PCI }));
const show = (steps: ReturnType<typeof planDetachWrites>): string[] => steps.map((s) => `${s.write.hostPath} <- ${JSON.stringify(s.write.value)}`);
/** The restore writes for a device recorded as `before` (its driver loaded) and found as `now`. */
const restoreFrom = (before: PciDevice, now: PciDevice): ReturnType<typeof planRestoreWrites> =>
  planRestoreWrites([{ dev: now, original: priorBindingOf(before), originalLoaded: true }], layout);

describe('detach writes (pure planning, no filesystem)', () => {
  it('GPU + audio: all overrides first, unbind audio before GPU, probe GPU first', () => {
    const gpu = fakeDevice('0000:01:00.0', { class: '030000', driver: drv('nouveau') });
    const audio = fakeDevice('0000:01:00.1', { class: '040300', driver: drv('snd_hda_intel') });
    expect(show(planDetachWrites(toVfio(audio, gpu), layout))).toEqual([
      '/sys/bus/pci/devices/0000:01:00.0/driver_override <- "vfio-pci"',
      '/sys/bus/pci/devices/0000:01:00.1/driver_override <- "vfio-pci"',
      '/sys/bus/pci/drivers/snd_hda_intel/unbind <- "0000:01:00.1"',
      '/sys/bus/pci/drivers/nouveau/unbind <- "0000:01:00.0"',
      '/sys/bus/pci/drivers_probe <- "0000:01:00.0"',
      '/sys/bus/pci/drivers_probe <- "0000:01:00.1"',
    ]);
  });

  it('every step that moves a device is verified: unbinds to no driver, probes to vfio-pci', () => {
    const gpu = fakeDevice('0000:01:00.0', { class: '030000', driver: drv('nouveau') });
    const audio = fakeDevice('0000:01:00.1', { class: '040300', driver: drv('snd_hda_intel') });
    expect(planDetachWrites(toVfio(audio, gpu), layout).map((s) => [s.kind, s.device, s.expectDriver])).toEqual([
      ['override', '0000:01:00.0', undefined],
      ['override', '0000:01:00.1', undefined],
      ['unbind', '0000:01:00.1', null],
      ['unbind', '0000:01:00.0', null],
      ['probe', '0000:01:00.0', 'vfio-pci'],
      ['probe', '0000:01:00.1', 'vfio-pci'],
    ]);
  });

  it('an unbound device gets an override and a probe, no unbind', () => {
    const edu = fakeDevice('0000:00:10.0', { driver: null });
    expect(show(planDetachWrites(toVfio(edu), layout))).toEqual([
      '/sys/bus/pci/devices/0000:00:10.0/driver_override <- "vfio-pci"',
      '/sys/bus/pci/drivers_probe <- "0000:00:10.0"',
    ]);
  });

  it('a device half-moved by an interrupted run only gets what is missing', () => {
    const nic = fakeDevice('0000:02:01.0', { driver: null, driverOverride: drv('vfio-pci') });
    expect(show(planDetachWrites(toVfio(nic), layout))).toEqual(['/sys/bus/pci/drivers_probe <- "0000:02:01.0"']);
  });

  it('every probe step promises vfio-pci, so the executor verifies it', () => {
    const steps = planDetachWrites(toVfio(fakeDevice('0000:02:01.0', { driver: drv('e1000') })), layout);
    expect(steps.filter((s) => s.expectDriver === 'vfio-pci').map((s) => s.kind)).toEqual(['probe']);
  });

  it('kernels without driver_override fall back to new_id once per ID, then bind (EBUSY or, before 5.13, ENODEV: already bound), then remove_id', () => {
    const a = fakeDevice('0000:02:01.0', { driver: drv('e1000'), overrideSupported: false });
    const b = fakeDevice('0000:02:02.0', { driver: drv('e1000'), overrideSupported: false });
    expect(show(planDetachWrites(toVfio(a, b), layout))).toEqual([
      '/sys/bus/pci/drivers/e1000/unbind <- "0000:02:02.0"',
      '/sys/bus/pci/drivers/e1000/unbind <- "0000:02:01.0"',
      '/sys/bus/pci/drivers/vfio-pci/new_id <- "8086 10d3"',
      '/sys/bus/pci/drivers/vfio-pci/bind <- "0000:02:01.0"',
      '/sys/bus/pci/drivers/vfio-pci/bind <- "0000:02:02.0"',
      '/sys/bus/pci/drivers/vfio-pci/remove_id <- "8086 10d3"',
    ]);
    const steps = planDetachWrites(toVfio(a, b), layout);
    expect(steps.filter((s) => s.kind === 'bind').map((s) => s.tolerate)).toEqual([
      ['EBUSY', 'ENODEV'],
      ['EBUSY', 'ENODEV'],
    ]);
  });

  it('a variant driver as the target: its name in driver_override, and the probe verified against it', () => {
    const vf = fakeDevice('0000:04:00.2', { driver: drv('mlx5_core') });
    const steps = planDetachWrites([{ dev: vf, target: drv('mlx5_vfio_pci') }], layout);
    expect(show(steps)).toEqual([
      '/sys/bus/pci/devices/0000:04:00.2/driver_override <- "mlx5_vfio_pci"',
      '/sys/bus/pci/drivers/mlx5_core/unbind <- "0000:04:00.2"',
      '/sys/bus/pci/drivers_probe <- "0000:04:00.2"',
    ]);
    expect(steps.at(-1)!.expectDriver).toBe('mlx5_vfio_pci');
  });
});

describe('restore writes (reattach and rollback)', () => {
  it('clears the override with a newline (never a zero-length write), unbinds vfio-pci, binds the recorded driver', () => {
    const before = fakeDevice('0000:01:00.0', { driver: drv('nouveau') });
    const now = fakeDevice('0000:01:00.0', { driver: drv('vfio-pci'), driverOverride: drv('vfio-pci') });
    const steps = restoreFrom(before, now);
    expect(show(steps)).toEqual([
      '/sys/bus/pci/devices/0000:01:00.0/driver_override <- "\\n"',
      '/sys/bus/pci/drivers/vfio-pci/unbind <- "0000:01:00.0"',
      '/sys/bus/pci/drivers/nouveau/bind <- "0000:01:00.0"',
    ]);
    expect(steps.at(-1)!.expectDriver).toBe('nouveau');
  });

  it('a device that had no driver before stays unbound', () => {
    const now = fakeDevice('0000:00:10.0', { driver: drv('vfio-pci'), driverOverride: drv('vfio-pci') });
    const steps = planRestoreWrites([{ dev: now, original: priorBindingOf(fakeDevice('0000:00:10.0')), originalLoaded: false }], layout);
    expect(show(steps)).toEqual(['/sys/bus/pci/devices/0000:00:10.0/driver_override <- "\\n"', '/sys/bus/pci/drivers/vfio-pci/unbind <- "0000:00:10.0"']);
  });

  it('restores an override the admin had set (pci-stub) instead of clearing it', () => {
    const before = fakeDevice('0000:03:00.0', { driver: drv('pci-stub'), driverOverride: drv('pci-stub') });
    const now = fakeDevice('0000:03:00.0', { driver: drv('vfio-pci'), driverOverride: drv('vfio-pci') });
    const steps = restoreFrom(before, now);
    expect(show(steps)[0]).toBe('/sys/bus/pci/devices/0000:03:00.0/driver_override <- "pci-stub"');
  });

  it('with no record: clear a vfio-pci override, unbind, and let the kernel probe', () => {
    const now = fakeDevice('0000:01:00.0', { driver: drv('vfio-pci'), driverOverride: drv('vfio-pci') });
    expect(show(planRestoreWrites([{ dev: now, original: null, originalLoaded: false }], layout))).toEqual([
      '/sys/bus/pci/devices/0000:01:00.0/driver_override <- "\\n"',
      '/sys/bus/pci/drivers/vfio-pci/unbind <- "0000:01:00.0"',
      '/sys/bus/pci/drivers_probe <- "0000:01:00.0"',
    ]);
  });

  it('a device already back on its driver needs nothing', () => {
    const dev = fakeDevice('0000:01:00.0', { driver: drv('nouveau') });
    expect(planRestoreWrites([{ dev, original: priorBindingOf(dev), originalLoaded: true }], layout)).toEqual([]);
  });

  it('a device recorded in the journal and now on a variant vfio driver is unbound from that driver and given back', () => {
    const before = fakeDevice('0000:04:00.2', { driver: drv('mlx5_core') });
    const now = fakeDevice('0000:04:00.2', { driver: drv('mlx5_vfio_pci'), driverOverride: drv('mlx5_vfio_pci') });
    expect(show(restoreFrom(before, now))).toEqual([
      '/sys/bus/pci/devices/0000:04:00.2/driver_override <- "\\n"',
      '/sys/bus/pci/drivers/mlx5_vfio_pci/unbind <- "0000:04:00.2"',
      '/sys/bus/pci/drivers/mlx5_core/bind <- "0000:04:00.2"',
    ]);
  });

  it('a device recorded on a variant (someone else put it there) and now on vfio-pci goes back to that variant', () => {
    const before = fakeDevice('0000:04:00.2', { driver: drv('mlx5_vfio_pci'), driverOverride: drv('mlx5_vfio_pci') });
    const now = fakeDevice('0000:04:00.2', { driver: drv('vfio-pci'), driverOverride: drv('vfio-pci') });
    const steps = restoreFrom(before, now);
    expect(show(steps)).toEqual([
      '/sys/bus/pci/devices/0000:04:00.2/driver_override <- "mlx5_vfio_pci"',
      '/sys/bus/pci/drivers/vfio-pci/unbind <- "0000:04:00.2"',
      '/sys/bus/pci/drivers/mlx5_vfio_pci/bind <- "0000:04:00.2"',
    ]);
    expect(steps.at(-1)!.expectDriver).toBe('mlx5_vfio_pci');
  });

  it('a device recorded on a variant with no override gets an override naming it, or the bind would fail', () => {
    const before = fakeDevice('0000:04:00.2', { driver: drv('mlx5_vfio_pci') });
    const now = fakeDevice('0000:04:00.2', { driver: drv('vfio-pci'), driverOverride: drv('vfio-pci') });
    expect(show(restoreFrom(before, now))[0]).toBe('/sys/bus/pci/devices/0000:04:00.2/driver_override <- "mlx5_vfio_pci"');
  });

  it('a device recorded on the vfio driver it is on needs nothing', () => {
    const dev = fakeDevice('0000:04:00.2', { driver: drv('mlx5_vfio_pci'), driverOverride: drv('mlx5_vfio_pci') });
    expect(planRestoreWrites([{ dev, original: priorBindingOf(dev), originalLoaded: true }], layout)).toEqual([]);
  });

  it('a device moved with new_id gets its dynamic ID removed first', () => {
    const before = fakeDevice('0000:02:01.0', { driver: drv('e1000'), overrideSupported: false });
    const now = fakeDevice('0000:02:01.0', { driver: drv('vfio-pci'), overrideSupported: false });
    expect(show(restoreFrom(before, now))).toEqual([
      '/sys/bus/pci/drivers/vfio-pci/remove_id <- "8086 10d3"',
      '/sys/bus/pci/drivers/vfio-pci/unbind <- "0000:02:01.0"',
      '/sys/bus/pci/drivers/e1000/bind <- "0000:02:01.0"',
    ]);
  });
});
