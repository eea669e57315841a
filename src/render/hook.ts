import type { InstallReport, StatusReport, UninstallReport } from '../libvirt/hook-files.js';
import type { Output } from './output.js';

/** Human rendering of `vfioctl hook install | uninstall | status`. */
export const RESTART_NOTE =
  'libvirt looks for hooks only when it starts: restart it before the next virsh start (systemctl restart libvirtd; on a modular daemon, systemctl restart virtqemud virtnetworkd).';

export function renderInstall(out: Output, r: InstallReport): void {
  const c = out.color;
  for (const h of r.hooks) {
    const what = h.action === 'unchanged' ? 'already installed' : h.action === 'updated' ? c.green('updated') : c.green('installed');
    out.stdout(`${h.driver} hook ${what}: ${h.path}\n`);
  }
  for (const f of r.removed) out.stdout(`removed vfioctl's hook at the other place, so that libvirt runs it once: ${f}\n`);
  if (r.hooks.some((h) => h.action !== 'unchanged') || r.removed.length > 0) out.stdout(`${RESTART_NOTE}\n`);
}

export function renderUninstall(out: Output, r: UninstallReport): void {
  if (r.removed.length === 0) out.stdout('No vfioctl hook was installed: nothing removed.\n');
  for (const f of r.removed) out.stdout(`removed ${f}\n`);
  for (const f of r.leftAlone) out.stdout(`left alone (not vfioctl's): ${f}\n`);
  if (r.removed.length > 0) out.stdout('libvirt keeps running a hook it found at its start until it restarts; a removed script is simply not found.\n');
}

export function renderStatus(out: Output, r: StatusReport): void {
  const c = out.color;
  const present = r.hooks.filter((h) => h.state !== 'absent');
  out.stdout(`${r.installed ? c.green('vfioctl hook installed') : c.yellow('vfioctl hook not installed')} in ${r.libvirtDir}\n`);
  for (const h of present) {
    if (h.state === 'foreign') {
      out.stdout(`  ${h.path}: not vfioctl's (left alone)\n`);
      continue;
    }
    const runs = h.node && h.vfioctl ? `runs ${h.node} (${h.nodeExists ? 'exists' : c.red('missing')}) ${h.vfioctl} (${h.vfioctlExists ? 'exists' : c.red('missing')})` : 'edited by hand';
    out.stdout(`  ${h.driver} ${h.path}: ${runs}\n`);
  }
  for (const w of r.warnings) out.stdout(`  ${c.yellow('warning:')} ${w}\n`);
}
