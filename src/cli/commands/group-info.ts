import { Host } from '../../host/host.js';
import { parseAddress } from '../../pci/address.js';
import { groupReport } from '../../plan/group-report.js';
import { renderGroup } from '../../render/groups.js';
import { printJson, type Output } from '../../render/output.js';
import type { GlobalOptions } from '../program.js';

export function groupInfoCommand(addressText: string, g: GlobalOptions, out: Output): number {
  const addr = parseAddress(addressText);
  const host = new Host(g.root);
  const dev = host.reader.device(addr);
  const group = host.reader.requireGroup(dev);
  const report = groupReport(group, host, undefined, dev);
  if (g.json) printJson(out, report);
  else renderGroup(out, report);
  return 0;
}
