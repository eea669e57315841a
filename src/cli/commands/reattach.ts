import { InputError } from '../../errors.js';
import { Host } from '../../host/host.js';
import { persistedDevices, refuseGivingBack } from '../../persist/held.js';
import { renderReattach } from '../../render/changes.js';
import { printJson, type Output } from '../../render/output.js';
import { Journal } from '../../run/journal.js';
import { dryRunReattach, runReattach, type ReattachResult } from '../../run/reattach.js';
import { lockTimeoutMs, withWriteSession } from '../../run/session.js';
import { inputName, readLibvirtXmlFile } from '../../xml/index.js';
import type { GlobalOptions } from '../program.js';

export interface ReattachOptions extends GlobalOptions {
  all: boolean;
  dryRun: boolean;
  force: boolean;
  lockTimeout: string;
}

export async function reattachCommand(file: string | undefined, o: ReattachOptions, out: Output): Promise<number> {
  if (!file && !o.all) throw new InputError('reattach needs a domain or network XML file, or --all for every device vfioctl moved.');
  if (file && o.all) throw new InputError('Give either a file or --all, not both.');
  const doc = file ? readLibvirtXmlFile(file) : null;
  const command = file ? `reattach ${inputName(file)}` : 'reattach --all';
  const plan = (): ReattachResult => {
    const host = new Host(o.root);
    return dryRunReattach(new Journal(host.reader.layout.stateDir), host, doc);
  };
  // A persisted device is not given back by accident: refused on the plan, before any write (src/persist/held.ts).
  const persisted = o.force ? [] : persistedDevices(o.root);
  if (persisted.length > 0) refuseGivingBack(persisted, plan().devices);
  const result = o.dryRun ? plan() : withWriteSession(o.root, command, lockTimeoutMs(o.lockTimeout), (session) => runReattach(session, doc, command));
  if (o.json) printJson(out, result);
  else renderReattach(out, result);
  return 0;
}
