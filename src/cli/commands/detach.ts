import { resolveNodeOwner } from '../../host/accounts.js';
import { Host } from '../../host/host.js';
import { detachNotes, persistedDevices } from '../../persist/held.js';
import { renderDetach } from '../../render/changes.js';
import { printJson, type Output } from '../../render/output.js';
import { dryRunDetach, runDetach } from '../../run/detach.js';
import { plannedNodes, type PlannedNodes } from '../../run/node-owner.js';
import { lockTimeoutMs, withWriteSession } from '../../run/session.js';
import { inputName, readLibvirtXmlFile } from '../../xml/index.js';
import type { GlobalOptions } from '../program.js';
import { cliProgress } from '../progress.js';

export interface DetachOptions extends GlobalOptions {
  dryRun: boolean;
  force: boolean;
  lockTimeout: string;
  /** --owner USER[:GROUP]: who gets the /dev/vfio nodes after the move. */
  owner?: string;
}

export async function detachCommand(file: string, o: DetachOptions, out: Output): Promise<number> {
  const doc = readLibvirtXmlFile(file);
  // The lock and the journal say what ran: `detach <stdin>`, as messages name a piped input, not `detach -`.
  const command = `detach ${inputName(file)}`;
  // Resolved before anything is written: an unknown user is exit 3 with nothing changed.
  const nodeOwner = o.owner === undefined ? undefined : resolveNodeOwner(o.root, o.owner);
  let result;
  let nodes: PlannedNodes | undefined;
  if (o.dryRun) {
    const host = new Host(o.root);
    result = dryRunDetach(doc, host, o.force);
    if (nodeOwner) nodes = plannedNodes(host, result.devices, nodeOwner, result.notes);
  } else {
    result = withWriteSession(o.root, command, lockTimeoutMs(o.lockTimeout), (session) => runDetach(doc, session, o.force, command, undefined, nodeOwner), cliProgress(out, process.env));
  }
  // A persisted device: says so (already held from boot, or put where the boot would).
  result.notes.push(...detachNotes(persistedDevices(o.root), result.devices));
  if (o.json) printJson(out, nodes ? { ...result, nodes } : result);
  else renderDetach(out, result, nodes);
  return result.exitCode ?? 0;
}
