import fs from 'node:fs';
import path from 'node:path';
import { SysfsWriteError } from '../../../src/kernel/kernel.js';
import { SimulatedKernel } from '../../../src/mock/kernel/simulated.js';
import { materializeHost } from '../../../src/mock/materialize.js';
import { validateDescription } from '../../../src/mock/validate.js';

/**
 * The host side of the differential (test/vm/run.mjs bundles this with esbuild): the same writes, on the
 * simulated kernel loaded with the guest's snapshot, with the result of each and the drivers after it.
 */
export interface StepResult {
  path: string;
  value: string;
  result: string;
  drivers: Record<string, string | null>;
  /** What `observe` saw in sys/bus/pci/devices after the step (run.mjs: the interfaces of each function). */
  observed: unknown;
}

export function simulate(
  description: unknown,
  sequences: { name: string; steps: { path: string; value: string }[] }[],
  dir: string,
  observe: (devicesDir: string) => unknown,
): { initial: Record<string, string | null>; initialObserved: unknown; sequences: { name: string; steps: StepResult[] }[] } {
  materializeHost(validateDescription(description, 'the guest snapshot'), dir);
  const kernel = new SimulatedKernel(dir);
  const devices = path.join(dir, 'sys/bus/pci/devices');
  const drivers = (): Record<string, string | null> =>
    Object.fromEntries(
      fs
        .readdirSync(devices)
        .sort()
        .map((a) => {
          try {
            return [a, path.basename(fs.readlinkSync(path.join(devices, a, 'driver')))];
          } catch {
            return [a, null];
          }
        }),
    );
  const initial = drivers();
  return {
    initial,
    initialObserved: observe(devices),
    sequences: sequences.map((seq) => ({
      name: seq.name,
      steps: seq.steps.map((s) => {
        let result = 'ok';
        try {
          kernel.write({ hostPath: s.path, value: s.value });
        } catch (err) {
          if (!(err instanceof SysfsWriteError)) throw err;
          result = err.errno;
        }
        return { ...s, result, drivers: drivers(), observed: observe(devices) };
      }),
    })),
  };
}
