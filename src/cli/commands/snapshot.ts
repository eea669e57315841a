import { Host } from '../../host/host.js';
import { snapshotHost, writeDescription } from '../../mock/snapshot.js';
import type { Output } from '../../render/output.js';
import type { GlobalOptions } from '../program.js';

export function snapshotCommand(o: GlobalOptions & { output?: string; name?: string }, out: Output): number {
  const host = new Host(o.root);
  const omitted: string[] = [];
  const desc = snapshotHost(host, o.name ?? 'snapshot', omitted);
  for (const line of omitted) out.stderr(`warning: ${line}\n`);
  const text = `${JSON.stringify(desc, null, 2)}\n`;
  if (o.output) {
    writeDescription(o.output, text);
    out.stderr(`Wrote ${o.output}: ${desc.devices.length} PCI devices, ${new Set(desc.devices.map((d) => d.iommuGroup).filter((g) => g !== null)).size} IOMMU groups.\n`);
  } else out.stdout(text);
  return 0;
}
