import type { StatusDevice, StatusReport } from '../status/status.js';
import type { Output } from './output.js';

/** Human rendering of `vfioctl status`: held devices, the operation under way, what is persisted, the hooks. */
export function renderStatus(out: Output, r: StatusReport): void {
  const c = out.color;
  if (r.devices.length === 0) out.stdout('vfioctl holds no device.\n');
  else out.stdout(`${c.bold(`vfioctl holds ${r.devices.length} device${r.devices.length === 1 ? '' : 's'}`)}:\n`);
  for (const d of r.devices) out.stdout(deviceLine(out, d));
  if (r.operation) {
    const op = r.operation;
    const head = op.running ? c.yellow('Under way:') : c.red('Interrupted:');
    out.stdout(`${head} '${op.command}' (pid ${op.pid}, started ${op.started}), ${op.done} of ${op.steps} writes done; complete it with: ${op.complete}\n`);
  }
  if (r.persisted.length === 0) out.stdout('Persisted at boot: nothing.\n');
  else out.stdout(`Persisted at boot (vfioctl persist --list for details): ${r.persisted.map((p) => `${p.address} (group ${p.group}, ${p.source.kind} '${p.source.name}')`).join(', ')}\n`);
  if (r.hooks === null) out.stdout(`libvirt hooks: not looked at (--root is not /; give --libvirt-dir).\n`);
  else out.stdout(`libvirt hooks in ${r.hooks.libvirtDir}: ${r.hooks.installed ? c.green('installed') : 'not installed'}\n`);
  for (const a of r.attention) out.stdout(`${c.yellow('attention:')} ${a}\n`);
}

function deviceLine(out: Output, d: StatusDevice): string {
  const c = out.color;
  const now = d.state === 'held' ? c.green(`on ${d.driver}`) : d.state === 'gone' ? c.red('gone') : c.yellow(`${d.state}: ${d.driver ? `on ${d.driver}` : 'unbound'}`);
  const prior = d.priorDriver ?? 'no driver';
  const owner = d.owner ? `, for ${d.owner.kind} '${d.owner.name}'${d.owner.uuid ? ` (${d.owner.uuid})` : ''}` : '';
  return `  ${d.address}  ${now}  (was ${prior}; since ${d.since}, by '${d.by}'${owner})\n`;
}
