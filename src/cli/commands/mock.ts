import { loadHostDescription, listBundledHosts } from '../../mock/hosts.js';
import { materializeHost } from '../../mock/materialize.js';
import { printJson, type Output } from '../../render/output.js';
import type { GlobalOptions } from '../program.js';

export function mockListCommand(g: GlobalOptions, out: Output): number {
  const hosts = listBundledHosts();
  if (g.json) printJson(out, { hosts });
  else for (const h of hosts) out.stdout(`${h.name.padEnd(16)} ${h.summary}\n`);
  return 0;
}

export function mockCreateCommand(host: string, dir: string, _g: GlobalOptions, out: Output): number {
  const desc = loadHostDescription(host);
  materializeHost(desc, dir);
  out.stdout(`Created simulated host '${desc.name}' in ${dir} (${desc.devices.length} PCI devices). Use it with --root ${dir}.\n`);
  return 0;
}
