import fs from 'node:fs';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { InputError } from '../../src/errors.js';
import { LIMITS, type PciAddress } from '../../src/pci/address.js';
import { parseLibvirtXml, type LibvirtDocument } from '../../src/xml/index.js';
import { fixture } from '../helpers/cli.js';
import { attrText, hostdevDomain, hostdevNetwork } from './documents.js';

/** parseLibvirtXml's contract: a document, or an InputError; anything else thrown is a bug. */
function parseOrInputError(text: string): LibvirtDocument | InputError {
  try {
    return parseLibvirtXml(text, 'p.xml');
  } catch (err) {
    if (err instanceof InputError) return err;
    throw err;
  }
}

const inRange = (a: PciAddress): boolean =>
  (['domain', 'bus', 'slot', 'function'] as const).every((f) => Number.isInteger(a[f]) && a[f] >= 0 && a[f] <= LIMITS[f]);

/** The kernel's dev_valid_name() as src/pci/interface-name.ts states it, written out again independently. */
const kernelValidName = (s: string): boolean =>
  Buffer.byteLength(s, 'utf8') >= 1 && Buffer.byteLength(s, 'utf8') <= 15 && s !== '.' && s !== '..' && !/[/:\s\u0000-\u001f\u007f]/.test(s);

/** XML 1.0 Char (the parser refuses any other character in the file). */
const xmlText = (s: string): boolean => /^[\t\n\r\u{20}-\u{D7FF}\u{E000}-\u{FFFD}\u{10000}-\u{10FFFF}]*$/u.test(s);

const hexDigits = fc.string({ unit: fc.constantFrom(...'0123456789abcdefABCDEF'), maxLength: 10 });
/** Attribute text: anything at all, and text close to a number, where the interesting mistakes are. */
const attributeText = fc.oneof(
  fc.string({ maxLength: 12 }),
  fc.string({ unit: 'binary', maxLength: 12 }),
  fc.tuple(fc.constantFrom('0x', '0X', '', '-', '+', ' ', '0', '00', '0x-', '../'), hexDigits, fc.constantFrom('', ' ', ' 0x1', '/..', '\t')).map((p) => p.join('')),
  fc.integer({ min: -10, max: 0x1_0000_0010 }).map(String),
);

const numRuns = 200;

describe('properties (fast-check)', () => {
  it('any text in the address attributes: an in-range, typed address, or an InputError', () => {
    const field = fc.option(attributeText, { nil: undefined });
    fc.assert(
      fc.property(fc.record({ domain: field, bus: field, slot: field, function: field }), (fields) => {
        const attrs = Object.entries(fields)
          .filter(([, v]) => v !== undefined)
          .map(([k, v]) => `${k}='${attrText(v!)}'`)
          .join(' ');
        const result = parseOrInputError(hostdevDomain({ address: `<address ${attrs}/>` }));
        if (result instanceof InputError) return true;
        const target = result.assignments[0]!.target;
        return target.type === 'address' && inRange(target.address) && fields.bus !== undefined && fields.slot !== undefined && fields.function !== undefined;
      }),
      { numRuns },
    );
  });

  it("any interface name: accepted exactly when it follows the kernel's rules, and then kept as written", () => {
    const name = fc.oneof(fc.string({ maxLength: 18 }), fc.string({ unit: 'binary', maxLength: 18 }), fc.string({ unit: 'grapheme', maxLength: 10 }));
    fc.assert(
      fc.property(name, fc.constantFrom('pf', 'interface'), (dev, element) => {
        const result = parseOrInputError(hostdevNetwork({ pool: `<${element} dev='${attrText(dev)}'/>` }));
        const shouldAccept = kernelValidName(dev) && xmlText(dev);
        if (result instanceof InputError) return !shouldAccept;
        const target = result.assignments[0]!.target;
        return shouldAccept && target.type !== 'address' && target.dev === dev && kernelValidName(target.dev);
      }),
      { numRuns },
    );
  });

  it('any valid address written in 0x hex (any case, any zero padding), in decimal, or with a leading 0 in octal (as strtoul base 0), with leading white space or a plus, reads back as itself', () => {
    const address = fc.record({
      domain: fc.integer({ min: 0, max: LIMITS.domain }),
      bus: fc.integer({ min: 0, max: LIMITS.bus }),
      slot: fc.integer({ min: 0, max: LIMITS.slot }),
      function: fc.integer({ min: 0, max: LIMITS.function }),
    });
    const style = fc.record({ upper: fc.boolean(), pad: fc.integer({ min: 0, max: 4 }), base: fc.constantFrom(8, 10, 16), lead: fc.constantFrom('', ' ', '+', '&#9; +') });
    fc.assert(
      fc.property(address, style, (a, { upper, pad, base, lead }) => {
        const write = (n: number): string => {
          if (base === 10) return lead + String(n);
          if (base === 8) return `${lead}0${n.toString(8).padStart(pad, '0')}`;
          const digits = n.toString(16).padStart(pad + 1, '0');
          return `${lead}0${upper ? 'X' : 'x'}${upper ? digits.toUpperCase() : digits}`;
        };
        const text = `<address domain='${write(a.domain)}' bus='${write(a.bus)}' slot='${write(a.slot)}' function='${write(a.function)}'/>`;
        const doc = parseLibvirtXml(hostdevDomain({ address: text }), 'p.xml');
        expect(doc.assignments[0]!.target).toEqual({ type: 'address', address: a });
      }),
      { numRuns },
    );
  });

  it('any damage to a real file (bytes inserted or cut anywhere): a document or an InputError, never a crash', () => {
    const texts = fs.readdirSync(fixture('xml')).map((f) => fs.readFileSync(fixture('xml', f), 'utf8'));
    const insert = fc.oneof(
      fc.string({ unit: 'binary', maxLength: 6 }),
      fc.constantFrom('<', '>', '&', "'", '"', '/>', '</', '<!--', ']]>', '<![CDATA[', '&#0;', '&#x41;', '&amp;', '<!DOCTYPE x>', '<?xml version="1.0"?>', '<x>', "<address bus='0x1' slot='0' function='0'/>", "group='auto'", '</devices>', '\u0000'),
    );
    fc.assert(
      fc.property(fc.constantFrom(...texts), fc.nat(), fc.nat({ max: 40 }), insert, (text, at, cut, added) => {
        const i = at % (text.length + 1);
        const result = parseOrInputError(text.slice(0, i) + added + text.slice(i + cut));
        return result instanceof InputError || result.kind === 'domain' || result.kind === 'network';
      }),
      { numRuns },
    );
  });
});
