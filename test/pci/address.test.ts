import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { InputError } from '../../src/errors.js';
import { formatAddress, parseAddress } from '../../src/pci/address.js';
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
