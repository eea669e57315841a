import { Host } from '../../host/host.js';
import { iommuOffError, type FunctionScan } from '../../host/reader.js';
import { groupReport } from '../../plan/group-report.js';
import { humanGroupStream, jsonGroupStream } from '../../render/list.js';
import { bufferedOutput, type Output } from '../../render/output.js';
import { isolationWarnings } from '../../host/isolation.js';
import type { GlobalOptions } from '../program.js';

export function listCommand(g: GlobalOptions, out: Output): number {
  // Every function is located in one pass, then read, reported and printed one group at a time, and
  // dropped: memory stays flat on hosts with 10,000 functions.
  const host = new Host(g.root, 'scan');
  const scan = host.reader.scan();
  if (scan.groupCount === 0 && !host.reader.iommuEnabled()) throw iommuOffError();
  const buffered = bufferedOutput(out);
  try {
    printGroups(host, scan, g.json, buffered);
  } finally {
    buffered.flush(); // what was printed before an error is not lost
  }
  return 0;
}

function printGroups(host: Host, scan: FunctionScan, json: boolean, out: Output): void {
  // Non-PCI members (platform devices ...) from the IOMMUs' own listings; a group of them alone is listed too.
  const nonPci = host.reader.nonPciByGroup();
  const onlyNonPci = [...nonPci.keys()].filter((g) => !scan.hasGroup(g)).sort((a, b) => a - b);
  const warnings = isolationWarnings(host.reader);
  const stream = json ? jsonGroupStream(out, scan.groupCount + onlyNonPci.length, warnings) : humanGroupStream(out, warnings);
  const rest = (upTo: number): void => {
    while (onlyNonPci.length > 0 && onlyNonPci[0]! < upTo) {
      const g = onlyNonPci.shift()!;
      stream.group(groupReport(g, host, [], undefined, nonPci.get(g)));
    }
  };
  for (const { group, members } of scan.groups()) {
    rest(group);
    stream.group(groupReport(group, host, members.map((loc) => host.reader.readAt(loc)), undefined, nonPci.get(group) ?? []));
  }
  rest(Infinity);
  stream.end();
}
