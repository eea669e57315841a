import { Host } from '../../host/host.js';
import { parseDeviceSpec } from '../../pci/address.js';
import { devicesOf } from '../../plan/device-spec.js';
import { groupReport } from '../../plan/group-report.js';
import { renderGroup } from '../../render/groups.js';
import { printJson, renderWarnings, type Output } from '../../render/output.js';
import { isolationWarnings } from '../../host/isolation.js';
import type { GlobalOptions } from '../program.js';

/** One group (a function, or an interface's function); a slot whose functions sit in several groups prints each, as list does. */
export function groupInfoCommand(addressText: string, g: GlobalOptions, out: Output): number {
  const spec = parseDeviceSpec(addressText);
  const host = new Host(g.root);
  const devs = devicesOf(spec, host.reader);
  const groups = [...new Set(devs.map((d) => host.reader.requireGroup(d)))];
  const reports = groups.map((group) => groupReport(group, host, undefined, devs.find((d) => d.iommuGroup === group)));
  const warnings = isolationWarnings(host.reader);
  const withWarnings = warnings.length > 0 ? { warnings } : {};
  if (g.json) printJson(out, reports.length === 1 ? { ...withWarnings, ...reports[0] } : { ...withWarnings, groups: reports });
  else {
    renderWarnings(out, warnings);
    reports.forEach((r) => renderGroup(out, r));
  }
  return 0;
}
