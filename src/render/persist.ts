import type { PersistFile, PersistResult } from '../persist/persist.js';
import type { PersistedDevice, PersistRecord } from '../persist/record.js';
import type { UnpersistResult } from '../persist/unpersist.js';
import type { VerifyReport } from '../persist/verify.js';
import { stderrPalette, type Output } from './output.js';

/** Human rendering of `vfioctl persist`, `persist --list`, `persist --verify` and `unpersist`. */
export const BOOT_NOTE =
  'The udev rule holds them from the next boot on; `vfioctl detach FILE` moves them now. If the initramfs loads a driver for them, see README, "Persistence at boot".';

const idsOf = (d: PersistedDevice): string => `${d.vendor}:${d.device}${d.subsystemVendor !== null && d.subsystemDevice !== null ? ` (subsystem ${d.subsystemVendor}:${d.subsystemDevice})` : ''}`;

function deviceLine(d: PersistedDevice): string {
  return `  ${d.address}  ${idsOf(d)}  IOMMU group ${d.group}, group='${d.mode}'\n`;
}

function fileBlock(out: Output, f: PersistFile): void {
  const c = out.color;
  const what = f.action === 'unchanged' ? 'unchanged' : f.action === 'would-remove' ? 'would remove' : f.target !== undefined ? 'would link' : 'would write';
  if (f.target !== undefined) out.stdout(`${c.bold(`--- ${f.path}`)} (${what}) -> ${f.target}\n`);
  else out.stdout(`${c.bold(`--- ${f.path}`)} (${what})\n${f.content ?? ''}`);
}

function renderFiles(out: Output, files: PersistFile[], dryRun: boolean): void {
  for (const f of files) {
    if (dryRun) fileBlock(out, f);
    else out.stdout(`${f.action === 'unchanged' ? 'unchanged' : out.color.green(f.action)} ${f.path}\n`);
  }
  if (dryRun) out.stdout('Dry run: nothing was written.\n');
}

export function renderPersist(out: Output, r: PersistResult): void {
  const first = r.devices[0];
  if (first) out.stdout(`${r.dryRun ? 'Would persist' : 'Persisted'} from ${first.source.file} (${first.source.kind} '${first.source.name}'), on vfio-pci from boot:\n`);
  for (const d of r.devices) out.stdout(deviceLine(d));
  renderFiles(out, r.files, r.dryRun);
  for (const n of r.notes) out.stdout(`${out.color.yellow('note:')} ${n}\n`);
  if (!r.dryRun) out.stdout(`${BOOT_NOTE}\n`);
}

export function renderUnpersist(out: Output, r: UnpersistResult): void {
  if (r.removed.length === 0) out.stdout('Nothing was persisted.\n');
  else out.stdout(`${r.dryRun ? 'Would stop persisting' : 'No longer persisted'}:\n`);
  for (const d of r.removed) out.stdout(deviceLine(d));
  renderFiles(out, r.files, r.dryRun);
  if (r.removed.length > 0) out.stdout(`${r.remaining} device${r.remaining === 1 ? '' : 's'} still persisted. Devices on vfio-pci stay there until \`vfioctl reattach\`.\n`);
}

export function renderPersistList(out: Output, record: PersistRecord | null): void {
  if (!record || record.devices.length === 0) {
    out.stdout('Nothing is persisted on this host.\n');
    return;
  }
  for (const d of record.devices) {
    out.stdout(`${d.address}  ${idsOf(d)}  IOMMU group ${d.group}  group='${d.mode}'  ${d.source.kind} '${d.source.name}' from ${d.source.file}  since ${d.since}\n`);
  }
}

export function renderVerify(out: Output, r: VerifyReport): void {
  const held = r.devices.filter((d) => d.state === 'held');
  for (const d of held) out.stdout(`${d.address}: on ${d.driver ?? 'no driver'} (IOMMU group ${d.group})\n`);
  for (const n of r.notes) out.stdout(`${out.color.yellow('note:')} ${n}\n`);
  for (const p of r.problems) out.stderr(`${stderrPalette(out).red('vfioctl:')} ${p}\n`);
  if (r.devices.length === 0) out.stdout('Nothing is persisted on this host.\n');
  else if (r.ok) out.stdout(`Every persisted group is viable, with its ${r.devices.length} persisted device${r.devices.length === 1 ? '' : 's'} on vfio-pci.\n`);
  else out.stderr(`${stderrPalette(out).red('vfioctl:')} persist --verify: ${r.problems.length} problem${r.problems.length === 1 ? '' : 's'}; the persisted groups are not all held on vfio-pci.\n`);
}
