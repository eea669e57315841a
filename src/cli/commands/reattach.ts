import { UsageError } from '../../errors.js';
import { Host } from '../../host/host.js';
import { renderReattach } from '../../render/changes.js';
import { printJson, type Output } from '../../render/output.js';
import { Journal } from '../../run/journal.js';
import { dryRunReattach, runReattach } from '../../run/reattach.js';
import { lockTimeoutMs, withWriteSession } from '../../run/session.js';
import { inputName, readLibvirtXmlFile } from '../../xml/index.js';
import type { GlobalOptions } from '../program.js';
import { cliProgress } from '../progress.js';

export interface ReattachOptions extends GlobalOptions {
  all: boolean;
  dryRun: boolean;
  lockTimeout: string;
}

export async function reattachCommand(file: string | undefined, o: ReattachOptions, out: Output): Promise<number> {
  if (!file && !o.all) throw new UsageError('reattach needs a domain or network XML file, or --all for every device vfioctl moved.');
  if (file && o.all) throw new UsageError('Give either a file or --all, not both.');
  const doc = file ? readLibvirtXmlFile(file) : null;
  const command = file ? `reattach ${inputName(file)}` : 'reattach --all';
  let result;
  if (o.dryRun) {
    const host = new Host(o.root);
    result = dryRunReattach(new Journal(host.reader.layout.stateDir), host, doc);
  } else {
    result = withWriteSession(o.root, command, lockTimeoutMs(o.lockTimeout), (session) => runReattach(session, doc, command), cliProgress(out, process.env));
  }
  if (o.json) printJson(out, result);
  else renderReattach(out, result);
  return 0;
}
