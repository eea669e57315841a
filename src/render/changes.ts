import { printable } from '../errors.js';
import type { HostWrite } from '../host/layout.js';
import { alreadyOnVfio } from '../plan/vfio-driver.js';
import type { DetachResult } from '../run/detach.js';
import type { PlannedNodes } from '../run/node-owner.js';
import type { ReattachResult } from '../run/reattach.js';
import type { Output } from './output.js';

/** `PATH <- VALUE`, with the newline that clears an override shown as \n. */
export function formatWrite(w: HostWrite): string {
  return `${w.path} <- ${printable(w.value)}`;
}

/** `detach --dry-run --owner`: the nodes it would give to the owner after the writes, as exactly as they are known. */
function renderNodes(out: Output, n: PlannedNodes): void {
  const count = n.paths.length + n.cdevsAtBind.length;
  if (count === 0) return;
  out.stdout(`Then would give (${count}) to ${n.owner} (uid ${n.uid}, gid ${n.gid}):\n`);
  for (const p of n.paths) out.stdout(`  ${p}\n`);
  for (const a of n.cdevsAtBind) out.stdout(`  /dev/vfio/devices/vfioN of ${a} (N: the kernel's number at bind, where it has the vfio cdev)\n`);
}

export function renderDetach(out: Output, r: DetachResult, nodes?: PlannedNodes): void {
  const c = out.color;
  for (const n of r.notes) out.stdout(`${c.dim('note:')} ${n}\n`);
  if (r.dryRun) {
    const nothing = r.devices.length === 0 ? 'Nothing to do: no PCI device is assigned to VFIO.' : alreadyOnVfio(r.devices.filter((d) => d.action === 'already').map((d) => d.from));
    out.stdout(r.writes.length === 0 ? `${nothing}\n` : `Would write (${r.writes.length}), in this order:\n`);
  }
  if (r.dryRun) for (const w of r.writes) out.stdout(`  ${formatWrite(w)}\n`);
  if (r.dryRun && nodes) renderNodes(out, nodes);
  for (const d of r.devices) {
    const what =
      d.action === 'moved'
        ? `${d.from ?? 'no driver'} → ${c.green(d.to ?? 'vfio-pci')}`
        : d.action === 'would-move'
          ? `${d.from ?? 'no driver'} → ${d.to ?? 'vfio-pci'} (dry run)`
          : d.action === 'already'
            ? `already on ${d.from ?? 'vfio-pci'}`
            : `stays on ${d.from ?? 'no driver'}${d.action === 'bridge-stays' ? ' (bridge)' : ''}`;
    out.stdout(`  group ${d.group}  ${d.address}  ${what}\n`);
  }
  if (!r.dryRun) {
    const moved = r.devices.filter((d) => d.action === 'moved');
    const on = [...new Set(moved.map((d) => d.to ?? 'vfio-pci'))].join(', ');
    out.stdout(r.changed ? `${c.green('Detached')}: ${moved.length} device(s) now on ${on} (${r.writes.length} writes).\n` : '');
  }
}

export function renderReattach(out: Output, r: ReattachResult): void {
  const c = out.color;
  for (const n of r.notes) out.stdout(`${c.dim('note:')} ${n}\n`);
  if (r.dryRun) {
    out.stdout(r.writes.length === 0 ? 'Nothing to do.\n' : `Would write (${r.writes.length}), in this order:\n`);
    for (const w of r.writes) out.stdout(`  ${formatWrite(w)}\n`);
  }
  for (const d of r.devices) {
    if (d.action === 'unchanged') continue;
    out.stdout(`  ${d.address}  ${d.from ?? 'no driver'} → ${d.to ?? "the kernel's choice"}${r.dryRun ? ' (dry run)' : ''}\n`);
  }
  if (!r.dryRun && r.changed) out.stdout(`${c.green('Reattached')}: ${r.devices.length} device(s) (${r.writes.length} writes).\n`);
}
