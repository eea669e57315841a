import { Host } from '../../host/host.js';
import { iommuOffError } from '../../host/reader.js';
import { bufferedOutput, type Output } from '../../render/output.js';
import { renderSlice } from '../list-slice.js';
import type { GlobalOptions } from '../run.js';

export function listCommand(g: GlobalOptions, out: Output): number {
  // Every function is located in one pass, then read, reported and printed one group at a time, and
  // dropped: memory stays flat on hosts with 10,000 functions.
  const host = new Host(g.root, 'scan');
  const scan = host.reader.scan();
  if (scan.groupCount === 0 && !host.reader.iommuEnabled()) throw iommuOffError();
  const buffered = bufferedOutput(out);
  try {
    if (g.json) buffered.stdout(`{\n  "groups": [${scan.groupCount > 0 ? '' : ']\n}\n'}`);
    renderSlice(host, scan.groups(), g.json, buffered);
    if (g.json && scan.groupCount > 0) buffered.stdout('\n  ]\n}\n');
  } finally {
    buffered.flush();
  }
  return 0;
}
