import { InputError, printable } from '../errors.js';
import { parseInterfaceName, type InterfaceName } from './interface-name.js';

/**
 * A PCI address, validated. The only way to build one is through the parsers below, so a PciAddress
 * in hand is always safe to join into a sysfs path.
 */
export interface PciAddress {
  readonly domain: number; // 0..0xffff
  readonly bus: number; // 0..0xff
  readonly slot: number; // 0..0x1f
  readonly function: number; // 0..7
}

export const LIMITS = { domain: 0xffff, bus: 0xff, slot: 0x1f, function: 7 } as const;
export type AddressField = keyof typeof LIMITS;

const hex = (n: number, width: number): string => n.toString(16).padStart(width, '0');

/** '00' to 'ff', by value: Number#toString(16) is a call into V8's runtime, and `list` formats some 20,000 addresses. */
const BYTE_HEX = Array.from({ length: 256 }, (_, i) => hex(i, 2));

/** The kernel's canonical form, as in sysfs and in bind/unbind writes: `0000:01:00.0`. */
export function formatAddress(a: PciAddress): string {
  const { domain, bus, slot } = a;
  if (domain > LIMITS.domain || bus > LIMITS.bus || slot > 0xff) return `${hex(domain, 4)}:${hex(bus, 2)}:${hex(slot, 2)}.${a.function}`; // not made by a parser
  return `${BYTE_HEX[domain >> 8]}${BYTE_HEX[domain & 0xff]}:${BYTE_HEX[bus]}:${BYTE_HEX[slot]}.${a.function}`;
}

export function compareAddress(a: PciAddress, b: PciAddress): number {
  return a.domain - b.domain || a.bus - b.bus || a.slot - b.slot || a.function - b.function;
}

function makeAddress(domain: number, bus: number, slot: number, fn: number, shown: string): PciAddress {
  const fields: [AddressField, number][] = [
    ['domain', domain],
    ['bus', bus],
    ['slot', slot],
    ['function', fn],
  ];
  for (const [name, value] of fields) {
    if (value > LIMITS[name]) {
      throw new InputError(
        `Invalid PCI address '${printable(shown)}': ${name} ${hex(value, 1)} is out of range (at most ${hex(LIMITS[name], 1)}).`,
        'Write it as DDDD:BB:SS.F or BB:SS.F, e.g. 0000:06:12.5 or 06:12.5.',
      );
    }
  }
  return Object.freeze({ domain, bus, slot, function: fn });
}

const CLI_FORM = /^(?:([0-9a-fA-F]{4}):)?([0-9a-fA-F]{2}):([0-9a-fA-F]{2})\.([0-9a-fA-F])$/;

/**
 * Parses an address typed by the user on the command line: `DDDD:BB:SS.F` or `BB:SS.F` (domain 0000),
 * hex in either case, fixed widths as lspci prints them. Anything else is an InputError that shows the text.
 */
export function parseAddress(text: string): PciAddress {
  const m = CLI_FORM.exec(text);
  if (!m) {
    throw new InputError(
      `Invalid PCI address '${printable(text)}'.`,
      'Write it as DDDD:BB:SS.F or BB:SS.F in hex, e.g. 0000:06:12.5 or 06:12.5.',
    );
  }
  const [, d, b, s, f] = m;
  return makeAddress(d ? parseInt(d, 16) : 0, parseInt(b!, 16), parseInt(s!, 16), parseInt(f!, 16), text);
}

/** Parses a directory entry of sys/bus/pci/devices: only the kernel's exact lowercase form is accepted. */
export function parseSysfsAddress(name: string): PciAddress | undefined {
  if (!/^[0-9a-f]{4}:[0-9a-f]{2}:[0-9a-f]{2}\.[0-7]$/.test(name)) return undefined;
  const m = CLI_FORM.exec(name)!;
  const a = makeAddressOrUndefined(parseInt(m[1]!, 16), parseInt(m[2]!, 16), parseInt(m[3]!, 16), parseInt(m[4]!, 16));
  return a;
}

function makeAddressOrUndefined(d: number, b: number, s: number, f: number): PciAddress | undefined {
  if (d > LIMITS.domain || b > LIMITS.bus || s > LIMITS.slot || f > LIMITS.function) return undefined;
  return Object.freeze({ domain: d, bus: b, slot: s, function: f });
}

/** A number as libvirt read it, with the base its text chose (for the note on a leading 0). */
export interface LibvirtNumber {
  value: number;
  base: 8 | 10 | 16;
}

const DIGITS = { 8: /^[0-7]+$/, 10: /^[0-9]+$/, 16: /^[0-9a-fA-F]+$/ } as const;

/**
 * strtoul(text, &end, 0) as libvirt's virStrToLong_uip calls it with no end pointer (libvirt src/util/virstring.c,
 * reached from virPCIDeviceAddressParseXML through virXMLPropUInt): leading white space is skipped; an optional
 * `+` (any `-` is refused by the `p` variant); then `0x`/`0X` and hex digits, or a leading `0` and octal digits,
 * or decimal digits; nothing may follow (not even white space), and the value must fit in 32 bits. The white
 * space an XML attribute can carry is space, tab, LF and CR (XML 1.0 allows no other control character, even as
 * a character reference). Returns undefined where libvirt's call fails.
 */
export function readLibvirtNumber(text: string): LibvirtNumber | undefined {
  let s = text.replace(/^[ \t\n\r]*/, '');
  if (s.startsWith('+')) s = s.slice(1);
  const base: 8 | 10 | 16 = /^0[xX][0-9a-fA-F]/.test(s) ? 16 : s.startsWith('0') ? 8 : 10;
  const digits = base === 16 ? s.slice(2) : s;
  if (!DIGITS[base].test(digits)) return undefined;
  const value = parseInt(digits, base);
  return value > 0xffff_ffff ? undefined : { value, base };
}

/**
 * Parses one numeric attribute of a libvirt `<address>` element exactly as libvirt does (readLibvirtNumber), so
 * vfioctl names the device libvirt would: `0x02` is 2, `02` is 2, `010` is 8 (octal), ` 10` is 10. Throws an
 * InputError naming the attribute where libvirt refuses the text or the PCI range (virPCIDeviceAddressIsValid).
 */
export function parseLibvirtNumber(field: AddressField, text: string, where: string): LibvirtNumber {
  const n = readLibvirtNumber(text);
  if (n === undefined) {
    throw new InputError(
      `${where}: invalid PCI address ${field}='${printable(text)}': expected a number as libvirt reads it: hex (0x..), octal (a leading 0) or decimal.`,
      `Write it in hex as libvirt itself does, e.g. ${field}='0x${hex(Math.min(2, LIMITS[field]), field === 'function' ? 1 : 2)}'.`,
    );
  }
  if (n.value > LIMITS[field]) {
    throw new InputError(
      `${where}: PCI address ${field}='${printable(text)}' is out of range (at most 0x${hex(LIMITS[field], 1)}).`,
    );
  }
  return n;
}

export function addressFromParts(domain: number, bus: number, slot: number, fn: number): PciAddress {
  return makeAddress(domain, bus, slot, fn, `${domain}:${bus}:${slot}.${fn}`);
}

/** What group-info may be asked about: one function, a whole slot (every function of it), or a network interface. */
export type DeviceSpec =
  | { type: 'function'; address: PciAddress }
  /** `01:00`: the slot's functions, each checked on the host (`address` has function 0). */
  | { type: 'slot'; address: PciAddress }
  | { type: 'netdev'; dev: InterfaceName };

/** lspci -s's full forms: [DDDD:]BB:SS[.F], hex, with the leading zeros lspci prints or without them. */
const LSPCI_FORM = /^(?:([0-9a-fA-F]{1,4}):)?([0-9a-fA-F]{1,2}):([0-9a-fA-F]{1,2})(?:\.([0-9a-fA-F]))?$/;
/** virsh nodedev-list's name of a PCI function: pci_DDDD_BB_SS_F. */
const NODEDEV_FORM = /^pci_([0-9a-fA-F]{4})_([0-9a-fA-F]{2})_([0-9a-fA-F]{2})_([0-9a-fA-F])$/;
const SPEC_HINT = 'Give an address as lspci prints it (0000:01:00.0, 01:00.0, 1:0.0, or 01:00 for every function of the slot), a virsh nodedev name (pci_0000_01_00_0), or a network interface name (eno1).';

/**
 * Parses what a user gives group-info, validated before anything builds a path: an address as lspci takes it
 * (a slot without `.F` means every function of it), a virsh nodedev name, or (no `:`) an interface name by the
 * kernel's rules, which the host layer then resolves to its PCI function.
 */
export function parseDeviceSpec(text: string): DeviceSpec {
  const node = NODEDEV_FORM.exec(text);
  const m = node ?? LSPCI_FORM.exec(text);
  if (m) {
    const [, d, b, s, f] = m;
    const address = makeAddress(d ? parseInt(d, 16) : 0, parseInt(b!, 16), parseInt(s!, 16), f ? parseInt(f, 16) : 0, text);
    return f === undefined ? { type: 'slot', address } : { type: 'function', address };
  }
  if (text.includes(':') || text.startsWith('pci_')) throw new InputError(`Invalid PCI address '${printable(text)}'.`, SPEC_HINT);
  try {
    return { type: 'netdev', dev: parseInterfaceName(text, 'PCI address or interface name') };
  } catch (err) {
    if (err instanceof InputError) throw new InputError(err.message, SPEC_HINT);
    throw err;
  }
}

/** The slot a DeviceSpec of type 'slot' names, as lspci prints it: `0000:01:00`. */
export function formatSlot(a: PciAddress): string {
  return formatAddress(a).slice(0, -2);
}
