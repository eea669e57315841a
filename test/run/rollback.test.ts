import { describe, expect, it } from 'vitest';
import { KernelWriteError, RollbackIncompleteError } from '../../src/errors.js';
import { injectFault } from '../../src/mock/kernel/sim-state.js';
import { runDetach } from '../../src/run/detach.js';
import { simulatedWrites } from '../helpers/sim-host.js';
import { AUDIO, driverOf, GPU, gpuDomain, overrideOf, session, workstation } from './workstation.js';

/**
 * Rollback in-process: a write of a detach fails (the simulated kernel's fault injection), and the devices
 * already moved go back to their original drivers before the error is reported.
 */
function failedDetach(root: string): unknown {
  const s = session(root);
  try {
    runDetach(gpuDomain(), s, false, 'detach vm.xml');
  } catch (err) {
    return err;
  } finally {
    s.close();
  }
  throw new Error('the detach did not fail');
}
const writes = (root: string, from: number) => simulatedWrites(root).slice(from).map((w) => `${w.path} <- ${JSON.stringify(w.value)}: ${w.result}`);

describe('a write that fails mid-detach', () => {
  it('restores every device it had touched, and says so', () => {
    const root = workstation();
    injectFault(root, { kind: 'fail', errno: 'EIO', position: 4, times: 'once' }); // the GPU's unbind
    const err = failedDetach(root);
    expect(err).toBeInstanceOf(KernelWriteError);
    expect((err as Error).message).toBe(
      "Detach failed at step 4 of 6: Failed to write '0000:01:00.0' to '/sys/bus/pci/drivers/nouveau/unbind': EIO (input/output error)\nRolled back: 0000:01:00.0, 0000:01:00.1 are back on their original drivers.",
    );
    expect([driverOf(root, GPU), driverOf(root, AUDIO)]).toEqual(['nouveau', 'snd_hda_intel']);
    expect([overrideOf(root, GPU), overrideOf(root, AUDIO)]).toEqual([null, null]);
    // After the failed 4th write: both overrides cleared, the audio function bound back to its driver.
    expect(writes(root, 4)).toEqual([
      '/sys/bus/pci/devices/0000:01:00.0/driver_override <- "\\n": ok',
      '/sys/bus/pci/devices/0000:01:00.1/driver_override <- "\\n": ok',
      '/sys/bus/pci/drivers/snd_hda_intel/bind <- "0000:01:00.1": ok',
    ]);
  });

  it('forgets the devices it restored and closes the operation', () => {
    const root = workstation();
    injectFault(root, { kind: 'fail', errno: 'EBUSY', position: 5, times: 'once' }); // the GPU's probe
    failedDetach(root);
    const j = session(root).journal.data;
    expect(j).toMatchObject({ devices: {}, operation: null });
  });

  it('a device the kernel will not give back stays in the journal, and the error says how to finish', () => {
    const root = workstation();
    injectFault(root, { kind: 'fail', errno: 'EIO', position: 6, times: 'once' }); // the audio's probe
    injectFault(root, { kind: 'fail', errno: 'ENODEV', path: '/sys/bus/pci/drivers/snd_hda_intel/bind', times: 'always' });
    const err = failedDetach(root);
    expect(err).toBeInstanceOf(RollbackIncompleteError);
    expect((err as Error).message).toMatch(/^Detach failed at step 6 of 6: .*\nThe rollback could not restore everything:\n {2}- Failed to write '0000:01:00\.1' to '\/sys\/bus\/pci\/drivers\/snd_hda_intel\/bind': ENODEV/);
    expect([driverOf(root, GPU), driverOf(root, AUDIO)]).toEqual(['nouveau', null]);
    const j = session(root).journal.data;
    expect(Object.keys(j.devices)).toEqual([AUDIO]);
    expect(j.operation).toBeNull();
  });
});
