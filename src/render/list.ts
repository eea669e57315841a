import type { GroupReport } from '../plan/group-report.js';
import { renderGroup } from './groups.js';
import { renderWarnings, type Output } from './output.js';

/** Prints `list` one group at a time, so the command never holds every group's report at once. */
export interface GroupStream {
  group(report: GroupReport): void;
  /** After the last group (also when there was none). */
  end(): void;
}

/** Human output: each group as group-info prints it. */
export function humanGroupStream(out: Output, warnings: string[] = []): GroupStream {
  renderWarnings(out, warnings);
  return { group: (report) => renderGroup(out, report), end: () => {} };
}

/** Groups per JSON.stringify call of `list --json`: one call per group was a fifth of its JSON time (bench/results.md, History). */
const JSON_BATCH = 64;

/**
 * `list --json`, streamed: the same bytes as printJson(out, { groups }) of every report, written as
 * `{"groups": [` once, then the groups, JSON_BATCH at a time, then the closing brackets. `groupCount` is
 * known before the first group (the scan counts them), which decides whether the list is `[]`.
 */
export function jsonGroupStream(out: Output, groupCount: number, warnings: string[] = []): GroupStream {
  // `warnings` (src/host/isolation.ts) first, and only when there is one, as printJson would write it.
  const head = warnings.length > 0 ? `${JSON.stringify({ warnings }, null, 2).slice(0, -2)},` : '{';
  out.stdout(`${head}\n  "groups": [${groupCount > 0 ? '' : ']\n}\n'}`);
  let printed = 0;
  let batch: GroupReport[] = [];
  const write = (): void => {
    if (batch.length === 0) return;
    // Two levels deep, JSON.stringify indents the reports as the array items they are: '[\n  [\n' + items + '\n  ]\n]'.
    out.stdout(`${printed > 0 ? ',' : ''}\n${JSON.stringify([batch], null, 2).slice(6, -6)}`);
    printed += batch.length;
    batch = [];
  };
  return {
    group: (report) => {
      batch.push(report);
      if (batch.length === JSON_BATCH) write();
    },
    end: () => {
      write();
      if (groupCount > 0) out.stdout('\n  ]\n}\n');
    },
  };
}
