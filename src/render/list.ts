import type { GroupReport } from '../plan/group-report.js';
import { renderGroup } from './groups.js';
import type { Output } from './output.js';

/** Prints `list` one group at a time, so the command never holds every group's report at once. */
export interface GroupStream {
  group(report: GroupReport): void;
  /** After the last group (also when there was none). */
  end(): void;
}

/** Human output: each group as group-info prints it. */
export function humanGroupStream(out: Output): GroupStream {
  return { group: (report) => renderGroup(out, report), end: () => {} };
}

/**
 * `list --json`, streamed: the same bytes as printJson(out, { groups }) of every report, written as
 * `{"groups": [` once, then each group, then the closing brackets. `groupCount` is known before the first
 * group (the scan counts them), which decides whether the list is `[]`.
 */
export function jsonGroupStream(out: Output, groupCount: number): GroupStream {
  out.stdout(`{\n  "groups": [${groupCount > 0 ? '' : ']\n}\n'}`);
  let printed = 0;
  return {
    group: (report) => {
      // Two levels deep, JSON.stringify indents it as the array item it is: '[\n  [\n' + item + '\n  ]\n]'.
      out.stdout(`${printed > 0 ? ',' : ''}\n${JSON.stringify([[report]], null, 2).slice(6, -6)}`);
      printed++;
    },
    end: () => {
      if (groupCount > 0) out.stdout('\n  ]\n}\n');
    },
  };
}
