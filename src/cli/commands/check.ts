import { Host } from '../../host/host.js';
import { analyze } from '../../plan/analyze.js';
import { exitCodeFor } from '../../plan/blocker-error.js';
import { planDetachWrites } from '../../plan/writes.js';
import { renderAnalysis } from '../../render/analysis.js';
import { printJson, type Output } from '../../render/output.js';
import { readLibvirtXmlFile } from '../../xml/index.js';
import type { GlobalOptions } from '../run.js';

/** `vfioctl check FILE`: the analysis a detach would make, and its verdict as the exit code. No writes. */
export function checkCommand(file: string, g: GlobalOptions, out: Output): number {
  const doc = readLibvirtXmlFile(file);
  const host = new Host(g.root);
  const analysis = analyze(doc, host, { force: false });
  const code = exitCodeFor(analysis.blockers);
  const writes = code === 0 ? planDetachWrites(analysis.moves, host.reader.layout).map((s) => ({ path: s.write.hostPath, value: s.write.value })) : [];
  if (g.json) printJson(out, { ok: code === 0, exitCode: code, ...analysis, moves: analysis.moves.map((m) => m.dev.name), writes });
  else renderAnalysis(out, analysis, code);
  return code;
}
