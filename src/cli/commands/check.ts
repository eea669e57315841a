import { Host } from '../../host/host.js';
import { checkDetach } from '../../plan/check.js';
import { renderAnalysis } from '../../render/analysis.js';
import { checkJson } from '../../render/check.js';
import { printJson, type Output } from '../../render/output.js';
import { journalInterfaces } from '../../run/detach.js';
import { readLibvirtXmlFile } from '../../xml/index.js';
import type { GlobalOptions } from '../program.js';

/** `vfioctl check FILE`: the analysis a detach would make, and its verdict as the exit code. No writes. */
export function checkCommand(file: string, g: GlobalOptions, out: Output): number {
  const host = new Host(g.root);
  // Interfaces vfioctl recorded when it moved their devices: a pool named by interface resolves after a detach too.
  const verdict = checkDetach(readLibvirtXmlFile(file), host, journalInterfaces(host));
  if (g.json) printJson(out, checkJson(verdict));
  else renderAnalysis(out, verdict.analysis, verdict.exitCode);
  return verdict.exitCode;
}
