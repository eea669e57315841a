/**
 * A PCI device's `uevent` file, as the kernel prints it when read: DRIVER= from the driver core
 * (drivers/base/core.c dev_uevent, only while bound), then pci_uevent() (drivers/pci/pci-driver.c):
 *
 *   DRIVER=igbvf
 *   PCI_CLASS=20000                  pdev->class, "%04X": no padding past four digits, upper case
 *   PCI_ID=8086:10CA                 pdev->vendor:device, "%04X:%04X"
 *   PCI_SUBSYS_ID=8086:0000          pdev->subsystem_vendor:subsystem_device
 *   PCI_SLOT_NAME=0000:06:10.1
 *   MODALIAS=pci:v00008086d000010CAsv00008086sd00000000bc02sc00i00
 *
 * One read gives what would otherwise take the vendor, device, subsystem_vendor, subsystem_device and
 * class files and the driver link (DRIVER= is the bound driver's name, as the link's target is). It matters most for an SR-IOV VF, whose config space reads 0xffff for its IDs (the kernel
 * takes them from the PF), and of which a host may have thousands (issue 7).
 */
export interface PciUevent {
  driver: string | null;
  vendor: string; // 4 hex digits, lower case, as everywhere in vfioctl
  device: string;
  subsystemVendor: string;
  subsystemDevice: string;
  class: string; // 6 hex digits
  slot: string;
}

/** The file's text for a device (the simulated kernel writes it; the kernel generates it on each read). */
export function formatPciUevent(u: PciUevent): string {
  const up = (hex: string): string => hex.toUpperCase();
  const pad8 = (hex: string): string => up(hex).padStart(8, '0');
  const cls = parseInt(u.class, 16);
  const byte = (n: number): string => ((cls >> n) & 0xff).toString(16).padStart(2, '0');
  return [
    ...(u.driver === null ? [] : [`DRIVER=${u.driver}`]),
    `PCI_CLASS=${up(cls.toString(16).padStart(4, '0'))}`,
    `PCI_ID=${up(u.vendor)}:${up(u.device)}`,
    `PCI_SUBSYS_ID=${up(u.subsystemVendor)}:${up(u.subsystemDevice)}`,
    `PCI_SLOT_NAME=${u.slot}`,
    // "bc%02Xsc%02Xi%02x": the kernel prints the programming interface in lower case.
    `MODALIAS=pci:v${pad8(u.vendor)}d${pad8(u.device)}sv${pad8(u.subsystemVendor)}sd${pad8(u.subsystemDevice)}bc${up(byte(16))}sc${up(byte(8))}i${byte(0)}`,
    '',
  ].join('\n');
}

/**
 * The IDs and class from a uevent's text; undefined when a line is missing or not in the kernel's format
 * (a hand-made tree, or one from an older vfioctl): the caller then reads the separate files.
 */
export function parsePciUevent(text: string): Omit<PciUevent, 'slot'> | undefined {
  // Four lookups in the text, not a split into lines: `list` parses one uevent per function (10,000 on a big host).
  const driver = lineValue(text, 'DRIVER=') ?? null;
  const cls = lineValue(text, 'PCI_CLASS=');
  const id = lineValue(text, 'PCI_ID=');
  const subsys = lineValue(text, 'PCI_SUBSYS_ID=');
  if (cls === undefined || id === undefined || subsys === undefined) return undefined;
  if (!CLASS.test(cls) || !PAIR.test(id) || !PAIR.test(subsys)) return undefined;
  return {
    driver,
    vendor: id.slice(0, 4).toLowerCase(),
    device: id.slice(5).toLowerCase(),
    subsystemVendor: subsys.slice(0, 4).toLowerCase(),
    subsystemDevice: subsys.slice(5).toLowerCase(),
    class: cls.padStart(6, '0').toLowerCase(),
  };
}

/**
 * The value of the line `KEY=value` (key given with its '='); the last such line, as a split would find.
 * Searched forward: String.prototype.lastIndexOf is a runtime call in V8, several times indexOf's cost, and
 * `list` makes four of these lookups per function.
 */
function lineValue(text: string, key: string): string | undefined {
  let at = -1;
  for (let i = text.indexOf(key); i >= 0; i = text.indexOf(key, i + key.length)) if (i === 0 || text.charCodeAt(i - 1) === 0x0a) at = i;
  if (at < 0) return undefined;
  const end = text.indexOf('\n', at);
  return text.slice(at + key.length, end < 0 ? text.length : end);
}

const CLASS = /^[0-9A-Fa-f]{1,6}$/;
const PAIR = /^[0-9A-Fa-f]{4}:[0-9A-Fa-f]{4}$/;
