import { MODULES_LOAD_FILE, RECORD_FILE, UDEV_RULE_FILE, VERIFY_UNIT_FILE, VERIFY_UNIT_WANTS_LINK } from './paths.js';
import { serializeRecord, type PersistRecord } from './record.js';
import { verifyUnit } from './systemd-unit.js';
import { udevRule } from './udev-rule.js';

/**
 * Every file persistence needs, as a pure function of the record: the same record gives the same bytes (so a
 * second `persist` writes nothing), and an empty record gives no file at all (so `unpersist --all` removes
 * every one). Paths are host paths; src/persist/store.ts writes them under the root.
 */
export type GeneratedFile = { path: string; kind: 'file'; content: string } | { path: string; kind: 'symlink'; target: string };

export const MODULES_LOAD_TEXT = [
  '# Written by vfioctl persist; vfioctl unpersist removes it. Do not edit.',
  `# vfio-pci at boot: it binds the devices whose driver_override names it (${UDEV_RULE_FILE}).`,
  'vfio-pci',
  '',
].join('\n');

export function generatedFiles(record: PersistRecord): GeneratedFile[] {
  if (record.devices.length === 0) return [];
  return [
    { path: RECORD_FILE, kind: 'file', content: serializeRecord(record) },
    { path: UDEV_RULE_FILE, kind: 'file', content: udevRule(record.devices) },
    { path: MODULES_LOAD_FILE, kind: 'file', content: MODULES_LOAD_TEXT },
    { path: VERIFY_UNIT_FILE, kind: 'file', content: verifyUnit(record.verify) },
    // Where and how `systemctl enable` links a unit WantedBy=multi-user.target: an absolute link.
    { path: VERIFY_UNIT_WANTS_LINK, kind: 'symlink', target: VERIFY_UNIT_FILE },
  ];
}
