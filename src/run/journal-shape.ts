import { HostTreeError, printable } from '../errors.js';
import { isVfioNodePath } from '../kernel/kernel.js';
import { parseSysfsAddress } from '../pci/address.js';
import { parseInterfaceName } from '../pci/interface-name.js';
import type { JournalData } from './journal.js';

/**
 * The journal's shape, checked field by field when it is read: every value a reattach later writes to sysfs
 * (a driver name, an override, IDs) or counts with comes from here, so a damaged or foreign file is refused
 * with the field it fails on (exit 13), never half-used or turned into an internal error.
 */
type Check = (v: unknown) => string | null;

const DRIVER_NAME = /^[A-Za-z0-9_.+:-]{1,64}$/;
const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const what = (v: unknown): string => (v === null ? 'null' : Array.isArray(v) ? 'an array' : typeof v === 'string' ? `'${printable(v, 40)}'` : `a ${typeof v}`);

const str: Check = (v) => (typeof v === 'string' ? null : `is ${what(v)}, not a string`);
const driverOrNull: Check = (v) => (v === null || (typeof v === 'string' && DRIVER_NAME.test(v)) ? null : `is ${what(v)}, not a driver name or null`);
const hex4: Check = (v) => (typeof v === 'string' && /^[0-9a-f]{4}$/.test(v) ? null : `is ${what(v)}, not a 4-digit hex ID`);
const method: Check = (v) => (v === 'driver_override' || v === 'new_id' ? null : `is ${what(v)}, not 'driver_override' or 'new_id'`);
const count: Check = (v) => (Number.isSafeInteger(v) && (v as number) >= 0 ? null : `is ${what(v)}, not a count`);
const owner: Check = (v) => {
  if (v === undefined) return null;
  if (!isObject(v)) return `is ${what(v)}, not an owner`;
  if (v.kind !== 'domain' && v.kind !== 'network') return `.kind is ${what(v.kind)}, not 'domain' or 'network'`;
  return typeof v.name === 'string' && typeof v.uuid === 'string' ? null : 'has no string name and uuid';
};

const links: Check = (v) =>
  v === undefined || (Array.isArray(v) && v.every((l) => isObject(l) && typeof l.name === 'string' && typeof l.operstate === 'string')) ? null : `is ${what(v)}, not a list of interfaces (name, operstate)`;

/** The interface names a device had when it moved (a pool named by interface is found again by them). */
const interfaces: Check = (v) => {
  if (v === undefined) return null;
  if (!Array.isArray(v)) return `is ${what(v)}, not a list of interface names`;
  for (const name of v) {
    try {
      parseInterfaceName(String(name));
    } catch {
      return `holds ${what(name)}, not an interface name`;
    }
    if (typeof name !== 'string') return `holds ${what(name)}, not an interface name`;
  }
  return null;
};

/** The /dev/vfio nodes given away by `detach --owner`: a reattach chowns exactly these paths back, so each is checked. */
const nodes: Check = (v) => {
  if (v === undefined) return null;
  if (!Array.isArray(v)) return `is ${what(v)}, not a list of /dev/vfio nodes`;
  for (const n of v) {
    if (!isObject(n) || typeof n.path !== 'string' || !isVfioNodePath(n.path)) return `holds ${isObject(n) ? what(n.path) : what(n)}, not a /dev/vfio node`;
    if (count(n.uid) || count(n.gid)) return `holds ${n.path} with a uid or gid that is not a number`;
    if (!Number.isSafeInteger(n.mode) || (n.mode as number) < 0 || (n.mode as number) > 0o7777) return `holds ${n.path} with mode ${what(n.mode)}, not permission bits`;
  }
  return null;
};

const DEVICE_FIELDS: Record<string, Check> = { driver: driverOrNull, override: driverOrNull, method, vendor: hex4, device: hex4, since: str, by: str, owner, links, interfaces, nodes };

function damaged(file: string, field: string, why: string): HostTreeError {
  return new HostTreeError(
    `The journal ${file} is damaged: ${field} ${why}.`,
    'Look at it (it records the drivers of the devices vfioctl moved), restore those devices by hand if needed, then move it away.',
  );
}

function checkOperation(file: string, op: unknown): void {
  if (op === null) return;
  if (!isObject(op)) throw damaged(file, 'operation', `is ${what(op)}, not an object or null`);
  for (const [k, c] of Object.entries({ command: str, pid: count, started: str, done: count })) {
    const bad = c(op[k]);
    if (bad) throw damaged(file, `operation.${k}`, bad);
  }
  if (!Array.isArray(op.steps)) throw damaged(file, 'operation.steps', `is ${what(op.steps)}, not a list`);
  op.steps.forEach((s: unknown, i) => {
    if (!isObject(s) || typeof s.hostPath !== 'string' || typeof s.value !== 'string') throw damaged(file, `operation.steps[${i}]`, 'is not a write (hostPath and value)');
  });
  if ((op.done as number) > op.steps.length) throw damaged(file, 'operation.done', `is ${op.done as number}, more than its ${op.steps.length} steps`);
}

/** The journal's data, or a HostTreeError naming the first field that is wrong. */
export function checkJournal(file: string, data: unknown, version: number): JournalData {
  if (!isObject(data)) throw damaged(file, 'its content', `is ${what(data)}, not an object`);
  if (data.version !== version) throw damaged(file, 'version', `is ${what(data.version)}, not ${version}`);
  if (!isObject(data.devices)) throw damaged(file, 'devices', `is ${what(data.devices)}, not an object`);
  for (const [addr, rec] of Object.entries(data.devices)) {
    const at = `devices["${printable(addr, 40)}"]`;
    if (!parseSysfsAddress(addr)) throw damaged(file, at, 'is not named by a PCI address (DDDD:BB:DD.F)');
    if (!isObject(rec)) throw damaged(file, at, `is ${what(rec)}, not an object`);
    for (const [k, c] of Object.entries(DEVICE_FIELDS)) {
      const bad = c(rec[k]);
      if (bad) throw damaged(file, `${at}.${k}`, bad);
    }
  }
  checkOperation(file, data.operation);
  return data as unknown as JournalData;
}
