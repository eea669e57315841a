import fs from 'node:fs';
import path from 'node:path';
import { HostReader } from '../../src/host/reader.js';
import { json, runCli } from '../helpers/cli.js';
import { domainXml } from '../helpers/xml.js';

/**
 * Shared pieces of the robustness campaign (test/robustness): which group of a host to detach, the drivers
 * of every device, the journal, and a tally of cases that the suite prints at the end (README, "Reliability").
 */
export function drivers(root: string): Record<string, string | null> {
  const reader = new HostReader(root);
  return Object.fromEntries(reader.listAddresses().map((a) => [reader.device(a).name, reader.device(a).driver]));
}

export function journal(root: string): { devices: Record<string, unknown>; operation: unknown } {
  const file = path.join(root, 'run/vfioctl/journal.json');
  if (!fs.existsSync(file)) return { devices: {}, operation: null };
  return JSON.parse(fs.readFileSync(file, 'utf8'));
}

/**
 * The group a detach of this host exercises best: the most devices group='auto' would move, none the host
 * needs, no PF with VFs enabled. The domain XML names its first movable member with group='auto'.
 */
export async function targetGroup(root: string): Promise<{ members: string[]; xml: string } | undefined> {
  const r = await runCli(['list', '--json', '--root', root]);
  if (r.code !== 0) return undefined;
  const { groups } = json(r);
  const candidates = groups.filter(
    (g: any) => g.autoWouldMove.length > 0 && g.autoWouldSucceed && g.devices.every((d: any) => d.hostNeeds.length === 0 && !(d.sriov?.role === 'pf' && d.sriov.vfs.length > 0)),
  );
  candidates.sort((a: any, b: any) => b.autoWouldMove.length - a.autoWouldMove.length);
  const g = candidates[0];
  if (!g) return undefined;
  return { members: g.autoWouldMove, xml: domainXml('campaign', [{ address: g.autoWouldMove[0], group: 'auto' }]) };
}

export class Tally {
  tried = 0;
  failed = 0;
  readonly failures: string[] = [];
  record(name: string, ok: boolean, detail = ''): void {
    this.tried += 1;
    if (!ok) {
      this.failed += 1;
      this.failures.push(`${name}${detail ? `: ${detail}` : ''}`);
    }
  }
  summary(what: string): string {
    return `${what}: ${this.tried} cases tried, ${this.failed} failed${this.failures.length ? `\n  ${this.failures.join('\n  ')}` : ''}`;
  }
}

/** Appends a campaign's counts to the report file the README's "Reliability" section quotes. */
export function report(line: string): void {
  const file = process.env.VFIOCTL_RELIABILITY_REPORT;
  if (file) fs.appendFileSync(file, `${line}\n`);
  process.stdout.write(`${line}\n`);
}
