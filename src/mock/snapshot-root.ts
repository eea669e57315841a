import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { InputError } from '../errors.js';
import { loadHostDescription } from './hosts.js';
import { materializeHost } from './materialize.js';
import { isSnapshotRoot } from './snapshot-path.js';

/**
 * `--root FILE.json`: read-only commands plan against a snapshot. The snapshot is materialized into a private
 * temp directory for the command's length (the same reader then serves real hosts and snapshots) and removed
 * afterwards. Writing commands refuse it: a snapshot is a record, not a host.
 */
export interface HostRoot {
  root: string;
  fromSnapshot: boolean;
  cleanup(): void;
}

export function openHostRoot(root: string, purpose: 'read' | 'write'): HostRoot {
  if (!isSnapshotRoot(root)) return { root, fromSnapshot: false, cleanup: () => undefined };
  if (purpose === 'write') {
    throw new InputError(
      `--root ${root} is a snapshot: it can be read and planned against (check, list, group-info, detach --dry-run), not changed.`,
      `To simulate changes, materialize it first: vfioctl mock create ${root} DIR, then --root DIR.`,
    );
  }
  const desc = loadHostDescription(root);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vfioctl-snapshot-'));
  try {
    materializeHost(desc, path.join(dir, 'host'));
  } catch (err) {
    fs.rmSync(dir, { recursive: true, force: true });
    throw err;
  }
  return { root: path.join(dir, 'host'), fromSnapshot: true, cleanup: () => fs.rmSync(dir, { recursive: true, force: true }) };
}
