import { InputError } from '../../errors.js';
import { Host } from '../../host/host.js';
import { currentInstallation } from '../../libvirt/installation.js';
import { persistDocument } from '../../persist/persist.js';
import { readRecord } from '../../persist/store.js';
import { unpersist, unpersistTarget } from '../../persist/unpersist.js';
import { verifyPersisted } from '../../persist/verify.js';
import { printJson, type Output } from '../../render/output.js';
import { renderPersist, renderPersistList, renderUnpersist, renderVerify } from '../../render/persist.js';
import { readLibvirtXmlFile } from '../../xml/index.js';
import type { GlobalOptions } from '../program.js';

export interface PersistOptions extends GlobalOptions {
  list: boolean;
  verify: boolean;
  force: boolean;
  dryRun: boolean;
}

/** `vfioctl persist FILE | --list | --verify` (see README, "Persistence at boot"). */
export function persistCommand(file: string | undefined, o: PersistOptions, out: Output): number {
  if ([file !== undefined, o.list, o.verify].filter(Boolean).length !== 1) throw new InputError('persist needs one of: a domain or network XML file, --list, or --verify.');
  if (o.list) {
    const record = readRecord(o.root);
    if (o.json) printJson(out, { devices: record?.devices ?? [], verify: record?.verify ?? null });
    else renderPersistList(out, record);
    return 0;
  }
  if (o.verify) {
    const report = verifyPersisted(new Host(o.root));
    if (o.json) printJson(out, report);
    else renderVerify(out, report);
    return report.exitCode;
  }
  const doc = readLibvirtXmlFile(file!);
  const result = persistDocument(doc, new Host(o.root), { force: o.force, dryRun: o.dryRun, verify: currentInstallation(), now: new Date() });
  if (o.json) printJson(out, result);
  else renderPersist(out, result);
  return 0;
}

export function unpersistCommand(arg: string | undefined, o: GlobalOptions & { all: boolean; dryRun: boolean }, out: Output): number {
  const target = unpersistTarget(arg, o.all);
  if (!target) throw new InputError('unpersist needs one of: the XML file that was persisted, a PCI address, or --all.');
  const result = unpersist(o.root, target, o.dryRun);
  if (o.json) printJson(out, result);
  else renderUnpersist(out, result);
  return 0;
}
