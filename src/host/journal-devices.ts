import type { HostLayout } from './layout.js';
import { readTextFile } from './sysfs-read.js';

/**
 * The `devices` of vfioctl's journal (ROOT/run/vfioctl/journal.json, written by src/run/journal.ts), for the
 * commands that only read it and take no lock: which devices vfioctl holds, and their recorded owners
 * (src/plan/ownership.ts), and what a snapshot records of them (src/mock/snapshot-kernel.ts). Each entry is
 * left unchecked for its reader to check. No journal, or one that is not JSON with a `devices` object: none.
 */
export function readJournalDevices(layout: HostLayout): Record<string, unknown> {
  const text = readTextFile(`${layout.stateDir}/journal.json`, 4 * 1024 * 1024);
  if (text === undefined) return {};
  let devices: unknown;
  try {
    devices = (JSON.parse(text) as { devices?: unknown }).devices;
  } catch {
    return {};
  }
  return typeof devices === 'object' && devices !== null && !Array.isArray(devices) ? (devices as Record<string, unknown>) : {};
}
