import { UsageError } from '../../errors.js';
import { Host } from '../../host/host.js';
import { persistedDevices, refuseGivingBack } from '../../persist/held.js';
import { renderReattach } from '../../render/changes.js';
import { printJson, type Output } from '../../render/output.js';
import { Journal, type JournalDevice, type LinkState } from '../../run/journal.js';
import { ownerOfDocument } from '../../libvirt/hook-xml.js';
import { dryRunReattach, runReattach, type ByHand, type ReattachResult } from '../../run/reattach.js';
import { lockTimeoutMs, withWriteSession } from '../../run/session.js';
import { inputName, parseLibvirtXml, readXmlText, type LibvirtDocument } from '../../xml/index.js';
import type { GlobalOptions } from '../program.js';
import { cliProgress } from '../progress.js';

export interface ReattachOptions extends GlobalOptions {
  all: boolean;
  dryRun: boolean;
  force: boolean;
  lockTimeout: string;
}

/** An interface that was up when its device was detached and is not up now it is back: what to run. */
export interface LinkDown {
  device: string;
  interface: string;
  operstate: string;
  command: string;
}

function recordedLinks(devices: Record<string, JournalDevice>): Map<string, LinkState[]> {
  return new Map(Object.entries(devices).map(([a, d]) => [a, d.links ?? []]));
}

/**
 * Adds to a reattach's result the interfaces that came back down: they were up at detach (the journal's
 * `links`), their driver is back, and the kernel brings a rebound NIC up only if something asks it to.
 * vfioctl does not bring a host interface up by itself (routes and firewalls may depend on when it does):
 * it says which, and the command.
 */
function withLinksDown(result: ReattachResult, before: Map<string, LinkState[]>, host: Host): ReattachResult & { linksDown: LinkDown[] } {
  const linksDown: LinkDown[] = [];
  for (const d of result.devices) {
    if (d.action !== 'restored') continue;
    for (const link of before.get(d.address) ?? []) {
      if (link.operstate !== 'up') continue;
      const now = host.reader.interfaceOperstate(link.name) ?? 'absent';
      if (now !== 'up') linksDown.push({ device: d.address, interface: link.name, operstate: now, command: `ip link set ${link.name} up` });
    }
  }
  const notes = linksDown.map((l) =>
    l.operstate === 'absent'
      ? `${l.interface} (${l.device}) was up before the detach and has not come back under that name: see \`ip link\`.`
      : `${l.interface} (${l.device}) was up before the detach and is ${l.operstate} now: bring it up with \`sudo ${l.command}\` (vfioctl does not bring host interfaces up by itself).`,
  );
  return { ...result, notes: [...result.notes, ...notes], linksDown };
}

/** The XML, and who it is: devices vfioctl holds for another domain or network are refused unless --force. */
function readFile(file: string, force: boolean): { doc: LibvirtDocument; byHand: ByHand | undefined } {
  const text = readXmlText(file);
  const doc = parseLibvirtXml(text, inputName(file));
  return { doc, byHand: force ? undefined : { requester: ownerOfDocument(text, doc), file: inputName(file) } };
}

export async function reattachCommand(file: string | undefined, o: ReattachOptions, out: Output): Promise<number> {
  if (!file && !o.all) throw new UsageError('reattach needs a domain or network XML file, or --all for every device vfioctl moved.');
  if (file && o.all) throw new UsageError('Give either a file or --all, not both.');
  const { doc, byHand } = file ? readFile(file, o.force) : { doc: null, byHand: undefined };
  const command = file ? `reattach ${inputName(file)}` : 'reattach --all';
  const plan = (): ReattachResult => {
    const host = new Host(o.root);
    return dryRunReattach(new Journal(host.reader.layout.stateDir), host, doc, byHand);
  };
  // A persisted device is not given back by accident: refused on the plan, before any write (src/persist/held.ts).
  const persisted = o.force ? [] : persistedDevices(o.root);
  if (persisted.length > 0) refuseGivingBack(persisted, plan().devices);
  const result = o.dryRun
    ? plan()
    : withWriteSession(
        o.root,
        command,
        lockTimeoutMs(o.lockTimeout),
        (session) => {
          const before = recordedLinks(session.journal.data.devices);
          return withLinksDown(runReattach(session, doc, command, undefined, byHand), before, session.host);
        },
        cliProgress(out, process.env),
      );
  if (o.json) printJson(out, result);
  else renderReattach(out, result);
  // A dry run of a run that would be refused (a group in use) answers as that run would: exit 12.
  return result.exitCode ?? 0;
}
