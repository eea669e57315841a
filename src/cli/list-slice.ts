import type { Host } from '../host/host.js';
import type { DeviceLocation } from '../host/reader.js';
import { groupReport } from '../plan/group-report.js';
import { renderGroup } from '../render/groups.js';
import type { Output } from '../render/output.js';

/** An IOMMU group of `list`, with its members located by the scan of every function. */
export interface GroupSlice {
  group: number;
  members: DeviceLocation[];
}

/**
 * Reads, reports and prints a run of groups as `list` shows them. For --json, each group is an array item
 * `\n    {...}` (indented two levels), items separated by commas; the caller writes the enclosing object.
 * An error stops it where it is, after the groups before it were written.
 */
export function renderSlice(host: Host, slice: Iterable<GroupSlice>, json: boolean, out: Output): void {
  let printed = 0;
  for (const { group, members } of slice) {
    const report = groupReport(group, host, members.map((loc) => host.reader.readAt(loc)));
    // Two levels deep, JSON.stringify indents it as the array item it is: '[\n  [\n' + item + '\n  ]\n]'.
    if (json) out.stdout(`${printed > 0 ? ',' : ''}\n${JSON.stringify([[report]], null, 2).slice(6, -6)}`);
    else renderGroup(out, report);
    printed++;
  }
}
