import { Host } from '../host/host.js';
import { holdings, sameOwner, type Owner } from '../plan/ownership.js';
import { runDetach } from '../run/detach.js';
import { runReattach } from '../run/reattach.js';
import { withWriteSession } from '../run/session.js';
import type { LibvirtDocument } from '../xml/index.js';

/**
 * What a hook does when it acts: a detach exactly as `vfioctl detach` does it, recorded in the journal for
 * its owner, and a release of what the journal records for that owner. Both take the host's lock for at most
 * `lockTimeoutMs` (libvirt waits for its hook, and a VM start must not hang on another vfioctl).
 */
export interface HookContext {
  root: string;
  lockTimeoutMs: number;
}

/** Moves the document's devices (whole groups where its group modes say so) for `owner`. */
export function prepareFor(doc: LibvirtDocument, owner: Owner, ctx: HookContext, command: string): void {
  if (doc.assignments.length === 0) return; // nothing to move: no lock, no journal
  withWriteSession(ctx.root, command, ctx.lockTimeoutMs, (session) => runDetach(doc, session, false, command, owner));
}

/** Gives back every device the journal records for `owner`; without taking the lock when there is none. */
export function releaseFor(owner: Owner, ctx: HookContext, command: string): void {
  // The journal is replaced by a rename, so a read without the lock sees a whole one.
  const held = holdings(new Host(ctx.root).reader);
  if (![...held.values()].some((o) => sameOwner(o, owner))) return;
  withWriteSession(ctx.root, command, ctx.lockTimeoutMs, (session) => runReattach(session, null, command, owner));
}
