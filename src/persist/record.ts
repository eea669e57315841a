import { HostTreeError } from '../errors.js';
import type { GroupMode } from '../xml/assignment.js';

/**
 * persist.json: what `vfioctl persist` holds on vfio-pci from boot, one entry per device. Every file it
 * generates is a function of this record alone (src/persist/generate.ts), so the record is validated as
 * strictly as user input when it is read back: its values end up in a udev rule and a systemd unit.
 */
export const RECORD_VERSION = 1;

export interface PersistSource {
  /** The XML file's absolute path, or `<stdin>`. */
  file: string;
  kind: 'domain' | 'network';
  name: string;
}

export interface PersistedDevice {
  /** Canonical `0000:02:01.0`. */
  address: string;
  /** 4 lowercase hex digits each: the guard the udev rule matches before it touches the device. */
  vendor: string;
  device: string;
  subsystemVendor: string | null;
  subsystemDevice: string | null;
  group: number;
  mode: GroupMode;
  source: PersistSource;
  /** When it was first persisted from this source (ISO 8601). */
  since: string;
}

/** The command the boot check runs, by absolute paths (libvirt's hooks run the same way: src/libvirt/installation.ts). */
export interface VerifyCommand {
  node: string;
  vfioctl: string;
}

export interface PersistRecord {
  version: typeof RECORD_VERSION;
  verify: VerifyCommand;
  /** In address order. */
  devices: PersistedDevice[];
}

const ADDRESS = /^[0-9a-f]{4}:[0-9a-f]{2}:[0-1][0-9a-f]\.[0-7]$/;
const ID = /^[0-9a-f]{4}$/;
// An absolute path with no control character: it goes on a line of a systemd unit.
const ABSOLUTE = /^\/[^\u0000-\u001f\u007f]{0,4095}$/;
const TEXT = /^[^\u0000-\u001f\u007f]{0,4096}$/;

export function serializeRecord(record: PersistRecord): string {
  return `${JSON.stringify(record, null, 2)}\n`;
}

/** Parses persist.json as read from `file` (named in messages); anything unexpected is damage. */
export function parseRecord(text: string, file: string): PersistRecord {
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch {
    throw damaged(file, 'it is not JSON');
  }
  const r = data as Partial<PersistRecord> | null;
  if (typeof r !== 'object' || r === null) throw damaged(file, 'it is not an object');
  if (r.version !== RECORD_VERSION) {
    throw new HostTreeError(`${file} has version ${JSON.stringify(r.version)}; this vfioctl reads version ${RECORD_VERSION}.`, 'It was written by another vfioctl: use that one, or move the file away and persist again.');
  }
  const v = r.verify;
  if (!v || typeof v.node !== 'string' || typeof v.vfioctl !== 'string' || !ABSOLUTE.test(v.node) || !ABSOLUTE.test(v.vfioctl)) throw damaged(file, "its 'verify' command is not two absolute paths");
  if (!Array.isArray(r.devices)) throw damaged(file, "it has no 'devices' list");
  r.devices.forEach((d, i) => checkDevice(d, `${file}: device ${i + 1}`));
  return { version: RECORD_VERSION, verify: { node: v.node, vfioctl: v.vfioctl }, devices: r.devices };
}

function checkDevice(d: PersistedDevice, where: string): void {
  const bad = (what: string): never => {
    throw new HostTreeError(`${where}: ${what}; the file is damaged.`, 'Look at it, then fix or move it away and persist again.');
  };
  if (typeof d !== 'object' || d === null) bad('not an object');
  if (typeof d.address !== 'string' || !ADDRESS.test(d.address)) bad('not a PCI address');
  for (const k of ['vendor', 'device'] as const) if (typeof d[k] !== 'string' || !ID.test(d[k])) bad(`'${k}' is not 4 hex digits`);
  for (const k of ['subsystemVendor', 'subsystemDevice'] as const) if (d[k] !== null && (typeof d[k] !== 'string' || !ID.test(d[k]))) bad(`'${k}' is not 4 hex digits or null`);
  if (!Number.isInteger(d.group) || d.group < 0) bad("'group' is not a group number");
  if (d.mode !== 'auto' && d.mode !== 'manual') bad("'mode' is neither auto nor manual");
  const s = d.source;
  if (!s || typeof s.file !== 'string' || !TEXT.test(s.file) || typeof s.name !== 'string' || !TEXT.test(s.name) || (s.kind !== 'domain' && s.kind !== 'network')) bad("'source' is not a file, a kind and a name");
  if (typeof d.since !== 'string' || !TEXT.test(d.since)) bad("'since' is not a time");
}

function damaged(file: string, why: string): HostTreeError {
  return new HostTreeError(`${file} is damaged: ${why}.`, 'Look at it, then fix or move it away and persist again.');
}

/** The same device record, apart from when it was persisted. */
export function sameDevice(a: PersistedDevice, b: PersistedDevice): boolean {
  return JSON.stringify({ ...a, since: '' }) === JSON.stringify({ ...b, since: '' });
}
