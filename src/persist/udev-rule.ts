import type { PersistedDevice } from './record.js';

/**
 * The udev rule that keeps host drivers off the persisted devices at boot. Measured with real udev 252 on a
 * real kernel (test/vm): udev writes an ATTR{} assignment while it processes the rules, and every RUN, the
 * kmod loads of 80-drivers.rules included, runs after that; so the override is in place before any module
 * that could claim the device is loaded. The override alone is not enough: when vfio-pci is already loaded,
 * nothing probes the device again and it stays unbound. Hence, on the matching line, vfio-pci is loaded
 * (udev's kmod builtin) and the device written to drivers_probe.
 *
 * The guard: the line matches only the persisted vendor, device and subsystem IDs. Another card in the slot,
 * or the card in another slot, reaches the next line instead, which leaves it to its host driver and writes
 * one line to the kernel log (/dev/kmsg: no syslog daemon, journal or network needed, as early as udev runs).
 * Only validated values go into the rule (src/persist/record.ts); nothing the user typed.
 */
export const RULE_MARKER = '# Written by vfioctl persist';

const END = 'vfioctl_end';

function ids(d: PersistedDevice): string {
  return `0x${d.vendor}:0x${d.device}${d.subsystemVendor !== null && d.subsystemDevice !== null ? ` subsystem 0x${d.subsystemVendor}:0x${d.subsystemDevice}` : ''}`;
}

function deviceLines(d: PersistedDevice): string[] {
  const at = `ACTION=="add", SUBSYSTEM=="pci", KERNEL=="${d.address}"`;
  const guard = [`ATTR{vendor}=="0x${d.vendor}"`, `ATTR{device}=="0x${d.device}"`];
  if (d.subsystemVendor !== null) guard.push(`ATTR{subsystem_vendor}=="0x${d.subsystemVendor}"`);
  if (d.subsystemDevice !== null) guard.push(`ATTR{subsystem_device}=="0x${d.subsystemDevice}"`);
  const hold = [
    'ATTR{driver_override}="vfio-pci"',
    'RUN{builtin}+="kmod load vfio-pci"',
    `RUN+="/bin/sh -c 'echo $kernel > /sys/bus/pci/drivers_probe'"`,
    `GOTO="${END}"`,
  ];
  const log = `RUN+="/bin/sh -c 'echo vfioctl: $kernel is $attr{vendor}:$attr{device} subsystem $attr{subsystem_vendor}:$attr{subsystem_device}, not the persisted ${ids(d)}, so it was left to its driver > /dev/kmsg'"`;
  return [[at, ...guard, ...hold].join(', '), `${at}, ${log}`];
}

/**
 * The first line: on every PCI `add` event, before any RUN of a later rule file (80-drivers.rules' kmod load),
 * every persisted device that is present, unbound and has its persisted IDs gets its override. Without it, a
 * driver loaded for another device whose event comes first (an onboard HDA controller before a GPU's audio
 * function, the first of two e1000) attaches to the persisted device before that device's own event sets its
 * override: the simulated reboot of test/persist/reboot.test.ts, which processes the events one at a time, shows
 * it. A shell function reads the four IDs and matches them as a `case` pattern (`*` for absent subsystem IDs);
 * `$$` is udev's literal `$`; no double quote, so the value needs no escaping.
 */
function holdAllFirst(devices: readonly PersistedDevice[]): string {
  const fn = 'h() { read v < $$1/vendor; read d < $$1/device; read sv < $$1/subsystem_vendor; read sd < $$1/subsystem_device; [ -e $$1/driver ] || case $$v:$$d:$$sv:$$sd in $$2) echo vfio-pci > $$1/driver_override ;; esac; }';
  const calls = devices.map((d) => `h /sys/bus/pci/devices/${d.address} 0x${d.vendor}:0x${d.device}:${d.subsystemVendor !== null && d.subsystemDevice !== null ? `0x${d.subsystemVendor}:0x${d.subsystemDevice}` : '*'} 2>/dev/null`);
  return `ACTION=="add", SUBSYSTEM=="pci", RUN+="/bin/sh -c '${[fn, ...calls].join('; ')}'"`;
}

export function udevRule(devices: readonly PersistedDevice[]): string {
  const lines = [
    `${RULE_MARKER} from /etc/vfioctl/persist.json; vfioctl unpersist removes it. Do not edit.`,
    '# Any PCI device appearing: every persisted device present, unbound, with its IDs gets driver_override=vfio-pci',
    '# before any driver module is loaded (so a driver loaded for another device cannot take it first).',
    holdAllFirst(devices),
    '# Each device: driver_override=vfio-pci when it appears, only with the IDs persisted, then vfio-pci loaded',
    '# and the device probed. Another card at the address is left alone and logged to the kernel log (dmesg).',
  ];
  let group: number | null = null;
  for (const d of devices) {
    if (d.group !== group) lines.push(`# IOMMU group ${(group = d.group)}, group='${d.mode}'`);
    lines.push(...deviceLines(d));
  }
  lines.push(`LABEL="${END}"`);
  return `${lines.join('\n')}\n`;
}
