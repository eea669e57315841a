import { describe, expect, it } from 'vitest';
import type { GroupReport } from '../../src/plan/group-report.js';
import { jsonGroupStream } from '../../src/render/list.js';
import { PLAIN, printJson, type Output } from '../../src/render/output.js';

function capture(): { out: Output; text: () => string } {
  const chunks: string[] = [];
  return { out: { stdout: (t) => chunks.push(t), stderr: () => {}, color: PLAIN }, text: () => chunks.join('') };
}

// Only the JSON shape matters here: nested objects and arrays as a report has them.
const report = (group: number): GroupReport =>
  ({ group, viable: group % 2 === 0, devices: [{ address: `0000:0${group}:00.0`, driver: null, netInterfaces: [] }], blockers: [], autoWouldMove: [] }) as unknown as GroupReport;

describe('list --json is streamed one group at a time, and is the JSON of the whole list', () => {
  it.each([0, 1, 3, 64, 65, 130])('%i groups: the same bytes as printing { groups } at once', (n) => {
    const reports = Array.from({ length: n }, (_, i) => report(i));
    const streamed = capture();
    const stream = jsonGroupStream(streamed.out, n);
    for (const r of reports) stream.group(r);
    stream.end();
    const whole = capture();
    printJson(whole.out, { groups: reports });
    expect(streamed.text()).toBe(whole.text());
  });
});
