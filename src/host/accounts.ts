import path from 'node:path';
import { InputError } from '../errors.js';
import { readOptional } from './sysfs-read.js';

/**
 * `--owner USER[:GROUP]`: the uid and gid it names, resolved from the host root's etc/passwd and etc/group
 * (not from the running system's name service: with --root the host is the tree). A number is taken as an
 * id; USER alone means USER's primary group. Unknown names are an InputError before anything is written.
 */
export interface NodeOwner {
  uid: number;
  gid: number;
  /** As given, for messages. */
  spec: string;
}

const ID = /^[0-9]{1,10}$/;

/** name:x:id:... lines of a passwd or group file, as [name, fields]. */
function table(root: string, file: string): Map<string, string[]> {
  const rows = new Map<string, string[]>();
  for (const line of (readOptional(path.join(root, 'etc', file)) ?? '').split('\n')) {
    const f = line.split(':');
    if (f.length >= 4 && f[0] !== '' && !line.startsWith('#')) rows.set(f[0]!, f);
  }
  return rows;
}

function unknown(kind: string, name: string, file: string, spec: string): InputError {
  return new InputError(`--owner ${spec}: no ${kind} '${name}' in ${file}.`, `Name an existing ${kind} (or give its numeric id), e.g. --owner qemu:kvm.`);
}

export function resolveNodeOwner(root: string, spec: string): NodeOwner {
  const [user = '', group, extra] = spec.split(':');
  if (user === '' || group === '' || extra !== undefined) throw new InputError(`--owner ${spec}: expected USER or USER:GROUP.`, 'For example --owner qemu or --owner 1000:kvm.');
  const passwd = table(root, 'passwd');
  const entry = passwd.get(user) ?? (ID.test(user) ? [...passwd.values()].find((f) => f[2] === user) : undefined);
  if (!entry && !ID.test(user)) throw unknown('user', user, path.join(root, 'etc/passwd'), spec);
  const uid = entry ? Number(entry[2]) : Number(user);
  let gid: number;
  if (group === undefined) {
    if (!entry) throw new InputError(`--owner ${spec}: uid ${user} is not in ${path.join(root, 'etc/passwd')}, so it has no primary group.`, `Name the group too: --owner ${user}:GROUP.`);
    gid = Number(entry[3]);
  } else if (ID.test(group)) {
    gid = Number(group);
  } else {
    const g = table(root, 'group').get(group);
    if (!g) throw unknown('group', group, path.join(root, 'etc/group'), spec);
    gid = Number(g[2]);
  }
  if (!Number.isSafeInteger(uid) || !Number.isSafeInteger(gid) || uid > 0xfffffffe || gid > 0xfffffffe) throw new InputError(`--owner ${spec}: not a valid uid or gid.`);
  return { uid, gid, spec };
}
