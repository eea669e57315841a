import { Host } from '../../host/host.js';
import { iommuOffError } from '../../host/reader.js';
import { groupReport } from '../../plan/group-report.js';
import { renderGroup } from '../../render/groups.js';
import { printJsonList, type Output } from '../../render/output.js';
import type { GlobalOptions } from '../run.js';

export function listCommand(g: GlobalOptions, out: Output): number {
  const host = new Host(g.root);
  const groups = host.reader.listGroups();
  if (groups.length === 0) throw iommuOffError();
  // One group at a time, printed as soon as it is read: memory stays flat on hosts with 10,000 functions.
  const reports = (function* () {
    for (const n of groups) yield groupReport(n, host);
  })();
  if (g.json) printJsonList(out, 'groups', reports);
  else for (const r of reports) renderGroup(out, r);
  return 0;
}
