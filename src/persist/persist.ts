import path from 'node:path';
import { InputError } from '../errors.js';
import type { Host } from '../host/host.js';
import { parseAddress } from '../pci/address.js';
import { analyze } from '../plan/analyze.js';
import { blockersError } from '../plan/blocker-error.js';
import { STDIN_NAME } from '../xml/index.js';
import type { LibvirtDocument } from '../xml/assignment.js';
import { earlyDriverNotes } from './early-drivers.js';
import { generatedFiles, type GeneratedFile } from './generate.js';
import { RECORD_VERSION, sameDevice, type PersistedDevice, type PersistRecord, type PersistSource, type VerifyCommand } from './record.js';
import { applyPlan, planFiles, readRecord, type FilePlan } from './store.js';

/**
 * `vfioctl persist FILE`: the devices a detach of FILE would hold on vfio-pci (the whole group with
 * group='auto'), refused for the same reasons and with the same messages as detach (src/plan/analyze.ts),
 * recorded in persist.json with the IDs that guard them, and every file generated from the record put in place.
 */
export interface PersistFile {
  path: string;
  action: 'written' | 'unchanged' | 'removed' | 'would-write' | 'would-remove';
  /** A dry run shows what it would write. */
  content?: string;
  target?: string;
}

export interface PersistResult {
  changed: boolean;
  dryRun: boolean;
  /** The devices persisted from this FILE. */
  devices: PersistedDevice[];
  files: PersistFile[];
  notes: string[];
}

export interface PersistOptions {
  force: boolean;
  dryRun: boolean;
  verify: VerifyCommand;
  now: Date;
}

/** How the record names an XML file: its absolute path, or `<stdin>`. */
export const sourceFile = (file: string): string => (file === '-' || file === STDIN_NAME ? STDIN_NAME : path.resolve(file));

/** The XML's identity in the record: its file, its kind and name. */
export function sourceOf(doc: LibvirtDocument): PersistSource {
  return { file: sourceFile(doc.file), kind: doc.kind, name: doc.name };
}

/** A record entry from the same XML: the same file, or the same domain or network by name. */
export const fromSource = (d: PersistedDevice, s: PersistSource): boolean =>
  (d.source.file === s.file && s.file !== STDIN_NAME) || (d.source.kind === s.kind && d.source.name === s.name);

function devicesToHold(doc: LibvirtDocument, host: Host, force: boolean, source: PersistSource, since: string, notes: string[]): PersistedDevice[] {
  const analysis = analyze(doc, host, { force });
  // detach's notes, but for the one about loading vfio-pci now: persistence loads it at boot.
  notes.push(...analysis.notes.filter((n) => !n.startsWith('vfio-pci is not loaded')));
  if (analysis.blockers.length > 0) throw blockersError(analysis.blockers, `Nothing was persisted for ${doc.file}`);
  const held = analysis.groups.flatMap((g) => g.members.filter((m) => m.fate === 'move' || m.fate === 'already').map((m) => ({ address: m.address, group: g.group, mode: g.mode })));
  if (held.length === 0) throw new InputError(`${doc.file} assigns no PCI device through VFIO: there is nothing to persist.`);
  return held.map(({ address, group, mode }) => {
    const dev = host.reader.device(parseAddress(address));
    return { address, vendor: dev.vendor, device: dev.device, subsystemVendor: dev.subsystemVendor, subsystemDevice: dev.subsystemDevice, group, mode, source, since };
  });
}

/** The record with FILE's devices replacing what FILE (or another XML, for the same addresses) had persisted. */
function merged(previous: PersistRecord | null, fresh: PersistedDevice[], source: PersistSource, verify: VerifyCommand, notes: string[]): PersistRecord {
  const old = previous?.devices ?? [];
  const taken = new Set(fresh.map((d) => d.address));
  for (const d of old) {
    if (taken.has(d.address) && !fromSource(d, source)) notes.push(`${d.address} was persisted from ${d.source.file} (${d.source.kind} '${d.source.name}'); it is now persisted from ${source.file}.`);
  }
  // An unchanged device keeps the time it was first persisted: persisting twice writes the same bytes.
  const kept = fresh.map((d) => old.find((o) => o.address === d.address && sameDevice(o, d)) ?? d);
  const others = old.filter((d) => !fromSource(d, source) && !taken.has(d.address));
  const devices = [...others, ...kept].sort((a, b) => (a.address < b.address ? -1 : a.address > b.address ? 1 : 0));
  return { version: RECORD_VERSION, verify, devices };
}

export function persistDocument(doc: LibvirtDocument, host: Host, o: PersistOptions): PersistResult {
  const source = sourceOf(doc);
  const notes: string[] = [];
  const devices = devicesToHold(doc, host, o.force, source, o.now.toISOString(), notes);
  // A host driver built into the kernel, or loaded from the initramfs, binds before the rule: say so, with the remedy.
  notes.push(...earlyDriverNotes(host, devices));
  const record = merged(readRecord(host.root), devices, source, o.verify, notes);
  const result = putInPlace(host.root, generatedFiles(record), o.dryRun);
  return { ...result, devices: record.devices.filter((d) => devices.some((x) => x.address === d.address)), notes };
}

/** Plans the files for a record and, unless a dry run, writes them. */
export function putInPlace(root: string, wanted: GeneratedFile[], dryRun: boolean): { changed: boolean; dryRun: boolean; files: PersistFile[] } {
  const plan = planFiles(root, wanted);
  const changed = plan.some((p) => p.action !== 'unchanged');
  if (dryRun) return { changed, dryRun, files: plan.map(dryRunFile) };
  const done = applyPlan(root, plan);
  return { changed, dryRun, files: done.map((c) => ({ path: c.path, action: c.action })) };
}

function dryRunFile(p: FilePlan): PersistFile {
  const action = p.action === 'write' ? 'would-write' : p.action === 'remove' ? 'would-remove' : 'unchanged';
  if (p.file?.kind === 'file') return { path: p.path, action, content: p.file.content };
  if (p.file?.kind === 'symlink') return { path: p.path, action, target: p.file.target };
  return { path: p.path, action };
}
