import { RECORD_FILE } from './paths.js';
import type { VerifyCommand } from './record.js';

/**
 * The boot check: a oneshot unit that runs `vfioctl persist --verify` once udev has processed the coldplug
 * events (the rule above has then held or skipped every persisted device), so that a group that did not end
 * up on vfio-pci is a line in the journal at boot rather than a VM that fails to start later.
 * `udevadm settle` waits for udev's queue itself: ordering After= systemd-udev-settle.service alone waits only
 * when something else pulls that (deprecated) unit in.
 */
export const UNIT_MARKER = '# Written by vfioctl persist';

/**
 * One word of an ExecStart= line: quoted when it needs to be; `%` escaped everywhere (specifiers), `$` in the
 * arguments only: systemd expands variables in the arguments, not in the executable's path (systemd.service(5),
 * "Command lines"; `systemd-analyze verify` reads a `$$` in the path literally).
 */
function execWord(word: string, index: number): string {
  const specifiersEscaped = word.replace(/%/g, '%%');
  const escaped = index === 0 ? specifiersEscaped : specifiersEscaped.replace(/\$/g, '$$$$');
  return /^[A-Za-z0-9_./+@:=,-]+$/.test(escaped) ? escaped : `"${escaped.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`;
}

export function verifyUnit(cmd: VerifyCommand): string {
  return [
    `${UNIT_MARKER}; vfioctl unpersist removes it. Do not edit.`,
    '[Unit]',
    'Description=vfioctl: check that the persisted IOMMU groups are on vfio-pci',
    'After=systemd-udev-trigger.service systemd-udev-settle.service systemd-modules-load.service',
    `ConditionPathExists=${RECORD_FILE}`,
    '',
    '[Service]',
    'Type=oneshot',
    'ExecStartPre=-udevadm settle --timeout=120',
    `ExecStart=${[cmd.node, cmd.vfioctl, 'persist', '--verify'].map((w, i) => execWord(w, i)).join(' ')}`,
    '',
    '[Install]',
    'WantedBy=multi-user.target',
    '',
  ].join('\n');
}
