import { describeWriteFailure } from '../errors.js';
import type { HostReader } from '../host/reader.js';
import type { Kernel } from '../kernel/kernel.js';
import { SysfsWriteError } from '../kernel/kernel.js';
import { parseSysfsAddress } from '../pci/address.js';
import { isVfioDriver } from '../plan/vfio-driver.js';
import type { PlanStep } from '../plan/writes.js';
import { sleep } from '../util/sleep.js';

/** Why a step failed, and which. */
export interface StepFailure {
  index: number;
  step: PlanStep;
  /** A sentence: the failed write with its errno, or what the device ended up on. */
  reason: string;
}

export class StepError extends Error {
  constructor(readonly failure: StepFailure) {
    super(failure.reason);
  }
}

export interface ExecuteOptions {
  kernel: Kernel;
  reader: HostReader;
  onStepDone?: (index: number) => void;
  verifyTimeoutMs?: number;
}

export function verifyTimeout(): number {
  const v = Number(process.env.VFIOCTL_VERIFY_TIMEOUT_MS);
  return Number.isFinite(v) && v >= 0 ? v : 2000;
}

/** The device's driver now, read fresh from the tree. */
export function currentDriver(reader: HostReader, name: string): string | null | undefined {
  const addr = parseSysfsAddress(name);
  if (!addr) return undefined;
  reader.invalidate(addr);
  const dev = reader.tryDevice(addr);
  return dev ? dev.driver : undefined;
}

/**
 * Performs plan steps one by one through the kernel, telling the journal after each, and verifies every
 * step that promises a driver (a bounded poll of the `driver` link: probing is synchronous in Linux, but a
 * driver's probe may defer; no fixed sleeps).
 */
export function executeSteps(steps: PlanStep[], opts: ExecuteOptions): void {
  const timeout = opts.verifyTimeoutMs ?? verifyTimeout();
  steps.forEach((step, index) => {
    try {
      opts.kernel.write(step.write);
    } catch (err) {
      if (!(err instanceof SysfsWriteError)) throw err;
      if (!step.tolerate?.includes(err.errno)) {
        throw new StepError({ index, step, reason: describeWriteFailure({ path: err.hostPath, value: err.value, errno: err.errno }) });
      }
    }
    opts.onStepDone?.(index);
    if (step.expectDriver !== undefined) {
      const want = step.expectDriver;
      const deadline = Date.now() + timeout;
      let wait = 1;
      let now = currentDriver(opts.reader, step.device);
      while (now !== want && Date.now() < deadline) {
        sleep(wait);
        wait = Math.min(wait * 2, 50);
        now = currentDriver(opts.reader, step.device);
      }
      if (now !== want) {
        const where = now === undefined ? 'disappeared from the PCI bus' : now === null ? 'is not bound to any driver' : `is bound to ${now}`;
        const reclaimed = !now ? '' : want === null && isVfioDriver(now) ? ` (${now} took it again: something probed it)` : want === null || isVfioDriver(want) ? ' (a host driver re-claimed it)' : '';
        throw new StepError({
          index,
          step,
          reason: `After writing '${step.write.value.trim() || '\\n'}' to '${step.write.hostPath}', ${step.device} ${where}${reclaimed}, not ${want ?? 'unbound'} (waited ${timeout} ms).`,
        });
      }
    }
  });
}
