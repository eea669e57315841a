import fs from 'node:fs';
import path from 'node:path';
import { InputError } from '../errors.js';
import type { HookTarget } from './hook-script.js';

/**
 * The node and the vfioctl that are running now, by absolute path, for the hook script: the node binary
 * (process.execPath) and the real path of bin/vfioctl (through npm's symlink in /usr/bin or /usr/local/bin).
 */
export function currentInstallation(): HookTarget {
  const script = process.argv[1];
  let vfioctl: string;
  try {
    vfioctl = script ? fs.realpathSync(script) : '';
  } catch {
    vfioctl = '';
  }
  if (path.basename(vfioctl) !== 'vfioctl') {
    throw new InputError(`Cannot tell where this vfioctl is installed (it runs as ${script ?? 'nothing'}); run hook install through the vfioctl command.`);
  }
  return { node: process.execPath, vfioctl };
}
