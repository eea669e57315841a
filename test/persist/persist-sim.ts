import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { BIN, listedDevices, type CliResult } from '../helpers/cli.js';

/** What `vfioctl persist` writes, named as on the host, and the command its boot unit runs. */
export const RULE = '/etc/udev/rules.d/60-vfioctl.rules';
export const RECORD = '/etc/vfioctl/persist.json';
export const CONF = '/etc/modules-load.d/vfioctl.conf';
export const UNIT = '/etc/systemd/system/vfioctl-verify.service';
export const WANTS = '/etc/systemd/system/multi-user.target.wants/vfioctl-verify.service';
export const NODE = process.execPath;
export const VFIOCTL = fs.realpathSync(BIN);

/** The host's own files under etc/ that `mock create` writes from the description (its os-release): not persist's. */
const HOST_OWN = new Set(['/etc/os-release', '/etc/passwd', '/etc/group']);

/**
 * Every file and symlink under ROOT/etc that the host did not come with, by host path: a file's content, or
 * `-> TARGET` for a link.
 */
export function etcFiles(root: string): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (dir: string): void => {
    if (!fs.existsSync(dir)) return;
    for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
      const p = path.join(dir, e.name);
      const host = `/${path.relative(root, p)}`;
      if (HOST_OWN.has(host)) continue;
      if (e.isSymbolicLink()) out[host] = `-> ${fs.readlinkSync(p)}`;
      else if (e.isDirectory()) walk(p);
      else out[host] = fs.readFileSync(p, 'utf8');
    }
  };
  walk(path.join(root, 'etc'));
  return out;
}

/** Each device's driver, from `list --json`. */
export function drivers(root: string): Record<string, string | null> {
  return Object.fromEntries(listedDevices(root).map((d: any) => [d.address, d.driver]));
}

/** bin/vfioctl with text on its standard input (a pipe). */
export function runBinWithInput(args: string[], input: string): CliResult {
  const r = spawnSync(process.execPath, [BIN, ...args], { input, encoding: 'utf8', env: { ...process.env, NO_COLOR: '1', VFIOCTL_PCI_IDS: '' }, timeout: 60_000 });
  if (r.error) throw r.error;
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}
