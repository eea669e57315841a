import { NotFoundError } from '../errors.js';
import { parseAddress, formatAddress } from '../pci/address.js';
import { readLibvirtXmlFile, STDIN_NAME } from '../xml/index.js';
import { generatedFiles } from './generate.js';
import { fromSource, putInPlace, sourceFile, sourceOf, type PersistFile } from './persist.js';
import type { PersistedDevice } from './record.js';
import { readRecord } from './store.js';

/**
 * `vfioctl unpersist FILE | ADDR | --all`: drops devices from the record and regenerates every file from
 * what is left; when nothing is left, every file goes. A device is dropped with the rest of its group as
 * persisted from the same XML: half a group held at boot would not be viable. Nothing moves now: devices on
 * vfio-pci stay there until `vfioctl reattach`.
 */
export type UnpersistTarget = { kind: 'all' } | { kind: 'address'; text: string } | { kind: 'file'; file: string };

export interface UnpersistResult {
  changed: boolean;
  dryRun: boolean;
  removed: PersistedDevice[];
  remaining: number;
  files: PersistFile[];
}

const ADDRESS_FORM = /^([0-9a-f]{4}:)?[0-9a-f]{2}:[0-1]?[0-9a-f]\.[0-7]$/i;

export function unpersistTarget(arg: string | undefined, all: boolean): UnpersistTarget | null {
  if (all) return arg === undefined ? { kind: 'all' } : null;
  if (arg === undefined) return null;
  return ADDRESS_FORM.test(arg) ? { kind: 'address', text: arg } : { kind: 'file', file: arg };
}

function selected(devices: PersistedDevice[], target: UnpersistTarget): PersistedDevice[] {
  if (target.kind === 'all') return devices;
  if (target.kind === 'address') {
    const address = formatAddress(parseAddress(target.text));
    const hit = devices.find((d) => d.address === address);
    if (!hit) throw new NotFoundError(`${address} is not persisted.`, persistedHint(devices));
    return devices.filter((d) => d.group === hit.group && fromSource(d, hit.source));
  }
  // The file as recorded; else the domain or network it defines now (it may have moved, or come from stdin).
  const file = sourceFile(target.file);
  const byPath = file === STDIN_NAME ? [] : devices.filter((d) => d.source.file === file);
  if (byPath.length > 0) return byPath;
  const source = sourceOf(readLibvirtXmlFile(target.file));
  const byName = devices.filter((d) => fromSource(d, source));
  if (byName.length === 0) throw new NotFoundError(`Nothing is persisted from ${source.file} (${source.kind} '${source.name}').`, persistedHint(devices));
  return byName;
}

function persistedHint(devices: PersistedDevice[]): string {
  if (devices.length === 0) return 'Nothing is persisted on this host.';
  const sources = [...new Set(devices.map((d) => `${d.source.file} (${d.source.kind} '${d.source.name}')`))];
  return `Persisted: ${sources.join(', ')}; vfioctl persist --list shows every device.`;
}

export function unpersist(root: string, target: UnpersistTarget, dryRun: boolean): UnpersistResult {
  const record = readRecord(root);
  const devices = record?.devices ?? [];
  const removed = target.kind === 'all' && devices.length === 0 ? [] : selected(devices, target);
  const left = devices.filter((d) => !removed.includes(d));
  const wanted = record ? generatedFiles({ ...record, devices: left }) : [];
  const result = putInPlace(root, wanted, dryRun);
  return { ...result, removed, remaining: left.length };
}
