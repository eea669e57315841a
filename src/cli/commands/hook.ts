import { installHooks, hookStatus, uninstallHooks } from '../../libvirt/hook-files.js';
import { HOOK_LOCK_TIMEOUT_S, runHook } from '../../libvirt/hook-run.js';
import { currentInstallation } from '../../libvirt/installation.js';
import { readHookInput } from '../../libvirt/hook-stdin.js';
import type { HookDriver } from '../../libvirt/hook-script.js';
import { renderInstall, renderStatus, renderUninstall } from '../../render/hook.js';
import { printJson, type Output } from '../../render/output.js';
import { lockTimeoutMs } from '../../run/session.js';
import type { GlobalOptions } from '../program.js';

export function hookInstallCommand(o: { libvirtDir: string; legacy: boolean }, out: Output): number {
  renderInstall(out, installHooks(o.libvirtDir, o.legacy, currentInstallation()));
  return 0;
}

export function hookUninstallCommand(o: { libvirtDir: string }, out: Output): number {
  renderUninstall(out, uninstallHooks(o.libvirtDir));
  return 0;
}

export function hookStatusCommand(o: GlobalOptions & { libvirtDir: string }, out: Output): number {
  const report = hookStatus(o.libvirtDir);
  if (o.json) printJson(out, report);
  else renderStatus(out, report);
  return 0;
}

/** The lock timeout: VFIOCTL_HOOK_LOCK_TIMEOUT (seconds) when set, else HOOK_LOCK_TIMEOUT_S. */
export function hookRunCommand(driver: HookDriver, args: string[], g: GlobalOptions, env: NodeJS.ProcessEnv, out: Output): number {
  const lock = lockTimeoutMs(env.VFIOCTL_HOOK_LOCK_TIMEOUT ?? String(HOOK_LOCK_TIMEOUT_S));
  let input: string | undefined;
  return runHook(driver, args, { root: g.root, lockTimeoutMs: lock }, { input: () => (input ??= readHookInput()), stdout: out.stdout, stderr: out.stderr });
}
