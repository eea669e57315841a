import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { InputError } from '../../src/errors.js';
import { formatAddress, formatSlot, LIMITS, parseAddress, parseDeviceSpec, type DeviceSpec } from '../../src/pci/address.js';
import { parseInterfaceName } from '../../src/pci/interface-name.js';

describe('command-line PCI addresses', () => {
  it.each([
    ['0000:06:12.5', '0000:06:12.5'],
    ['06:12.5', '0000:06:12.5'],
    ['0000:AF:1F.7', '0000:af:1f.7'],
    ['ffff:ff:1f.7', 'ffff:ff:1f.7'],
  ])('%s → %s', (text, canonical) => {
    expect(formatAddress(parseAddress(text))).toBe(canonical);
  });

  it.each(['', '6:12.5', '0000:06:20.0', '0000:06:12.8', '0000:100:00.0', '00000:06:12.5', '../../etc', '0000:06:12.5\n', ' 06:12.5', '06:12.5/..', '0x06:12.5'])(
    'rejects %j with an InputError that shows the text',
    (text) => {
      expect(() => parseAddress(text)).toThrow(InputError);
    },
  );

  it('says which field is out of range', () => {
    expect(() => parseAddress('0000:06:20.0')).toThrow(/slot 20 is out of range \(at most 1f\)/);
  });
});

describe('interface names (the kernel dev_valid_name rules)', () => {
  it.each(['eth0', 'enp3s0f1', 'a', 'x'.repeat(15), 'vf-0.1'])('accepts %j', (n) => {
    expect(parseInterfaceName(n)).toBe(n);
  });
  it.each(['', '.', '..', 'x'.repeat(16), 'eth0/../..', 'eth 0', 'eth0\u0000', 'a:b', 'tab\there'])('rejects %j', (n) => {
    expect(() => parseInterfaceName(n)).toThrow(InputError);
  });
});

describe('command-line addresses, property-based (fast-check)', () => {
  it('any text: a canonical in-range address that formats back to the same device, or an InputError', () => {
    fc.assert(
      fc.property(fc.oneof(fc.string({ maxLength: 16 }), fc.stringMatching(/^([0-9a-fA-F]{4}:)?[0-9a-fA-F]{2}:[0-9a-fA-F]{2}\.[0-9a-fA-F]$/)), (text) => {
        try {
          const a = parseAddress(text);
          const canonical = formatAddress(a);
          return /^[0-9a-f]{4}:[0-9a-f]{2}:[01][0-9a-f]\.[0-7]$/.test(canonical) && canonical.endsWith(text.toLowerCase()) && formatAddress(parseAddress(canonical)) === canonical;
        } catch (err) {
          return err instanceof InputError;
        }
      }),
      { numRuns: 500 },
    );
  });
});

/** A DeviceSpec as one line: "function 0000:01:00.0", "slot 0000:01:00", "netdev eno1". */
const shownSpec = (d: DeviceSpec): string => (d.type === 'netdev' ? `netdev ${d.dev}` : d.type === 'slot' ? `slot ${formatSlot(d.address)}` : `function ${formatAddress(d.address)}`);

describe("group-info's device specs: lspci's forms, virsh nodedev names, interface names", () => {
  it.each([
    ['0000:01:00.0', 'function 0000:01:00.0'],
    ['1:0.0', 'function 0000:01:00.0'],
    ['01:00', 'slot 0000:01:00'],
    ['1:0', 'slot 0000:01:00'],
    ['0000:01:00', 'slot 0000:01:00'],
    ['1:3b:2.7', 'function 0001:3b:02.7'],
    ['pci_0000_3b_02_1', 'function 0000:3b:02.1'],
    ['PCI_0000_3b_02_1'.toLowerCase(), 'function 0000:3b:02.1'],
    ['eno1', 'netdev eno1'],
    ['enp3s0f1', 'netdev enp3s0f1'],
  ])('%s → %s', (text, shown) => {
    expect(shownSpec(parseDeviceSpec(text))).toBe(shown);
  });

  it.each([
    ['06:12.9', /function 9 is out of range/],
    ['0000:06:20', /slot 20 is out of range/],
    ['123:00.0', /Invalid PCI address '123:00.0'/],
    ['00000:01:00.0', /Invalid PCI address/],
    ['pci_0000_01_00', /Invalid PCI address 'pci_0000_01_00'/],
    ['pci_0000_01_00_8', /function 8 is out of range/],
    ['../../sys', /Invalid PCI address or interface name '..\/..\/sys': it contains '\/'/],
    ['x'.repeat(16), /at most 15/],
    ['', /it is empty/],
    ['01:00.0 ', /Invalid PCI address/],
  ])('refuses %j before any path is built', (text, message) => {
    expect(() => parseDeviceSpec(text)).toThrow(InputError);
    expect(() => parseDeviceSpec(text)).toThrow(message);
  });

  it('any valid address, in any of lspci\'s widths or as a nodedev name, is the same function (or its slot)', () => {
    const addr = fc.record({
      domain: fc.integer({ min: 0, max: LIMITS.domain }),
      bus: fc.integer({ min: 0, max: LIMITS.bus }),
      slot: fc.integer({ min: 0, max: LIMITS.slot }),
      function: fc.integer({ min: 0, max: LIMITS.function }),
    });
    const style = fc.record({ pad: fc.boolean(), upper: fc.boolean(), domain: fc.boolean(), fn: fc.boolean(), nodedev: fc.boolean() });
    fc.assert(
      fc.property(addr, style, (a, st) => {
        const h = (n: number, w: number): string => {
          const t = n.toString(16).padStart(st.pad ? w : 1, '0');
          return st.upper ? t.toUpperCase() : t;
        };
        const full = formatAddress(a);
        if (st.nodedev) return shownSpec(parseDeviceSpec(`pci_${full.replace(/[:.]/g, '_')}`)) === `function ${full}`;
        const text = `${st.domain || a.domain > 0 ? `${h(a.domain, 4)}:` : ''}${h(a.bus, 2)}:${h(a.slot, 2)}${st.fn ? `.${a.function}` : ''}`;
        return shownSpec(parseDeviceSpec(text)) === (st.fn ? `function ${full}` : `slot ${full.slice(0, -2)}`);
      }),
      { numRuns: 500 },
    );
  });

  it('any text: a typed spec (an in-range address, or an interface name with no \'/\', \':\' or white space), or an InputError', () => {
    fc.assert(
      fc.property(fc.oneof(fc.string({ maxLength: 18 }), fc.stringMatching(/^[0-9a-fA-F]{1,5}(:[0-9a-fA-F]{1,3}){1,2}(\.[0-9a-fA-F])?$/)), (text) => {
        try {
          const d = parseDeviceSpec(text);
          if (d.type === 'netdev') return d.dev === text && !/[/:\s]/.test(d.dev) && d.dev.length > 0;
          return /^[0-9a-f]{4}:[0-9a-f]{2}:[01][0-9a-f]\.[0-7]$/.test(formatAddress(d.address));
        } catch (err) {
          return err instanceof InputError;
        }
      }),
      { numRuns: 500 },
    );
  });
});
