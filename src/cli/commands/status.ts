import { printJson, type Output } from '../../render/output.js';
import { renderStatus } from '../../render/status.js';
import { readStatus } from '../../status/status.js';
import type { GlobalOptions } from '../program.js';

/** `vfioctl status`: exit 0 whatever it finds (README, "vfioctl status"); a journal it cannot read exits 13. */
export function statusCommand(o: GlobalOptions & { libvirtDir: string | null }, out: Output): number {
  const report = readStatus(o.root, o.libvirtDir);
  if (o.json) printJson(out, report);
  else renderStatus(out, report);
  return 0;
}
