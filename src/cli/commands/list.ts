import { Host } from '../../host/host.js';
import { iommuOffError } from '../../host/reader.js';
import { groupReport } from '../../plan/group-report.js';
import { renderGroup } from '../../render/groups.js';
import { printJson, type Output } from '../../render/output.js';
import type { GlobalOptions } from '../run.js';

export function listCommand(g: GlobalOptions, out: Output): number {
  const host = new Host(g.root);
  const groups = host.reader.listGroups();
  if (groups.length === 0) throw iommuOffError();
  const reports = groups.map((n) => groupReport(n, host));
  if (g.json) printJson(out, { groups: reports });
  else reports.forEach((r) => renderGroup(out, r));
  return 0;
}
