import fs from 'node:fs';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { NotFoundError, PermissionError } from '../../src/errors.js';
import { MAX_XML_BYTES, parseLibvirtXml, readLibvirtXmlFile } from '../../src/xml/index.js';
import { tempFile } from '../helpers/xml.js';
import { hostdevDomain, inputErrorOf } from './documents.js';

afterEach(() => {
  vi.restoreAllMocks();
});

const errorText = (text: string): string => inputErrorOf(() => parseLibvirtXml(text, 'vm.xml')).message;
const DECLARATION = 'declarations are not accepted (they can define entities that read files or expand without bound); libvirt XML never needs one.';

describe('declarations: no DOCTYPE, no entities, ever', () => {
  it.each([
    ['an external entity reading /etc/shadow', `<?xml version="1.0"?>\n<!DOCTYPE domain [<!ENTITY x SYSTEM "file:///etc/shadow">]>\n<domain><name>&x;</name></domain>`, `vm.xml:2: <!DOCTYPE> ${DECLARATION}`],
    [
      'a billion laughs',
      `<!DOCTYPE lolz [${Array.from({ length: 9 }, (_, i) => `<!ENTITY lol${i + 1} "${`&lol${i};`.repeat(10)}">`).join('')}]>\n<domain><name>&lol9;</name></domain>`,
      `vm.xml:1: <!DOCTYPE> ${DECLARATION}`,
    ],
    ['a DOCTYPE with only a public id', `<domain/>\n\n<!DOCTYPE domain PUBLIC "-//x//y" "http://example.com/d.dtd">`, `vm.xml:3: <!DOCTYPE> ${DECLARATION}`],
    ['a lower-case doctype', `<!doctype domain>\n<domain/>`, `vm.xml:1: <!DOCTYPE> ${DECLARATION}`],
    ['an ENTITY declaration on its own', `<domain>\n<!ENTITY x "y">\n</domain>`, `vm.xml:2: <!ENTITY> ${DECLARATION}`],
  ])('%s', (_l, text, message) => {
    expect(errorText(text)).toBe(message);
  });
});

describe('characters XML does not allow', () => {
  it.each([
    ['a NUL byte in an attribute', hostdevDomain({ address: "<address bus='0x01\u0000' slot='0' function='0'/>" }), 'vm.xml:7: the file contains a NUL character; it is not XML text.'],
    ['a control character', '<domain><name>a\u0007</name></domain>', 'vm.xml:1: the file contains the character U+0007, which XML does not allow; it is not XML text.'],
    ['a lone surrogate', '<domain>\n<name>\ud800</name></domain>', 'vm.xml:2: the file contains the character U+D800, which XML does not allow; it is not XML text.'],
    ['U+FFFF', '<domain><name>\uffff</name></domain>', 'vm.xml:1: the file contains the character U+FFFF, which XML does not allow; it is not XML text.'],
    ['&#0; in an attribute', hostdevDomain({ address: "<address bus='0x01&#0;' slot='0' function='0'/>" }), 'vm.xml:7: the character reference &#0; stands for U+0000, which XML does not allow.'],
    ['&#x1b; (escape)', "<domain><name>&#x1b;[31m</name></domain>", 'vm.xml:1: the character reference &#x1b; stands for U+001B, which XML does not allow.'],
    ['&#xD800; (a surrogate)', '<domain><name>&#xD800;</name></domain>', 'vm.xml:1: the character reference &#xD800; stands for U+D800, which XML does not allow.'],
    ['a reference beyond Unicode', '<domain><name>&#99999999999999999999;</name></domain>', 'vm.xml:1: the character reference &#99999999999999999999; stands for no Unicode character, which XML does not allow.'],
  ])('%s', (_l, text, message) => {
    expect(errorText(text)).toBe(message);
  });

  it('allowed character references still work: &#x30; is 0', () => {
    expect(parseLibvirtXml(hostdevDomain({ address: "<address bus='&#x30;x3b' slot='0' function='0'/>" }), 'vm.xml').assignments[0]!.target).toMatchObject({ address: { bus: 0x3b } });
  });
});

describe('nesting', () => {
  const nested = (depth: number, tag = 'x'): string => `<domain>${`<${tag}>`.repeat(depth - 1)}${`</${tag}>`.repeat(depth - 1)}</domain>`;

  it('64 levels are accepted; 65 are refused on the line where the 65th opens', () => {
    expect(parseLibvirtXml(nested(64), 'vm.xml').assignments).toEqual([]);
    expect(errorText(nested(65).replace('<x><x><x>', '<x>\n<x>\n<x>'))).toBe('vm.xml:3: elements are nested more than 64 deep; libvirt XML is never that deep.');
  });

  it('a hundred thousand levels are refused before the parser builds anything', () => {
    const started = performance.now();
    expect(errorText(nested(100_000))).toMatch(/nested more than 64 deep/);
    expect(performance.now() - started).toBeLessThan(2000);
  });

  it("tags inside comments and CDATA do not count, self-closing tags do not nest, and '>' in an attribute value does not end the tag", () => {
    const text = `<domain><!-- ${'<a>'.repeat(100)} --><name><![CDATA[${'<b>'.repeat(100)}]]></name>${'<c/>'.repeat(100)}<d title='${'>'.repeat(5)}'>${'<e x="/>">'.repeat(60)}${'</e>'.repeat(60)}</d></domain>`;
    expect(parseLibvirtXml(text, 'vm.xml').kind).toBe('domain');
  });
});

describe('malformed XML: every problem xmldom reports, with its position', () => {
  it.each([
    ['an unclosed element', '<domain>\n  <name>x</name>\n  <devices>\n</domain>', /^vm\.xml:3:\d+: malformed XML: Opening and ending tag mismatch: "devices" != "domain"$/],
    ['a mismatched end tag', '<domain><name>x</nam></domain>', /^vm\.xml:1:\d+: malformed XML: Opening and ending tag mismatch/],
    ['an attribute given twice', "<domain>\n<devices><hostdev mode='subsystem' mode='capabilities' type='pci'/></devices></domain>", /^vm\.xml:2:\d+: malformed XML: Attribute mode redefined$/],
    ['an unquoted attribute (a warning in xmldom: not dropped)', '<domain a=b><name>x</name></domain>', /^vm\.xml:1:\d+: malformed XML: attribute "b" missed quot/],
    ['an attribute without a value (a warning in xmldom: not dropped)', '<domain a><name>x</name></domain>', /^vm\.xml:1:\d+: malformed XML: attribute "a" missed value/],
    ['an undefined entity', '<domain><name>&nope;</name></domain>', /^vm\.xml:1:\d+: malformed XML: entity not found:&nope;$/],
    ["'<' inside an attribute", "<domain a='<'/>", /^vm\.xml:1:\d+: malformed XML: Unescaped '<' not allowed in attributes values$/],
    ['two root elements', '<domain/><domain/>', /^vm\.xml:1:\d+: malformed XML: .*Only one element/],
    ['text after the root', '<domain/>junk', /^vm\.xml:1:\d+: malformed XML: Extra content at the end of the document$/],
    ['an unbound namespace prefix', '<lv:domain/>', /^vm\.xml:1:\d+: malformed XML: .*NamespaceError/],
    ['an XML declaration that is not first', '<domain/><?xml version="1.0"?>', /^vm\.xml:1:\d+: malformed XML: .*xml declaration/],
    ['an empty file', '', /^vm\.xml: malformed XML: missing root element$/],
    ['only whitespace', '  \n\n ', /^vm\.xml: malformed XML: missing root element$/],
    ['only an XML declaration', '<?xml version="1.0"?>', /^vm\.xml(:1:1)?: malformed XML: missing root element$/],
    ['plain text', 'hello', /^vm\.xml: malformed XML: missing root element$/],
    ['a JSON file', '{"domain": {"name": "vm"}}', /^vm\.xml: malformed XML: missing root element$/],
  ])('%s', (_l, text, message) => {
    expect(errorText(text)).toMatch(message);
  });

  it.each([
    ['a storage pool', "<pool type='dir'><name>default</name></pool>", 'pool'],
    ['a node device', '<device><name>pci_0000_01_00_0</name></device>', 'device'],
    ['an HTML page', '<html><body>hi</body></html>', 'html'],
  ])('%s is not a domain or a network', (_l, text, root) => {
    const e = inputErrorOf(() => parseLibvirtXml(text, 'p.xml'));
    expect(e.message).toBe(`p.xml: the root element is <${root}>; vfioctl reads libvirt domain XML (<domain>) and network XML (<network>).`);
  });

  it('a byte-order mark and CRLF line ends are fine, and lines are still counted right', () => {
    const text = `\ufeff${hostdevDomain({ address: "<address bus='0x01' slot='0x00' function='0x8'/>" }).replace(/\n/g, '\r\n')}`;
    expect(errorText(text)).toBe("vm.xml:7: <address>: PCI address function='0x8' is out of range (at most 0x7).");
  });

  it('text over 4 MiB is refused before it is parsed', () => {
    expect(errorText(`<domain><name>${'x'.repeat(4 * 1024 * 1024)}</name></domain>`)).toMatch(/^vm\.xml is larger than 4194304 characters \(4 MiB\)/);
  });
});

describe('reading the file', () => {
  it.each([
    ['50 MB', 50 * 1024 * 1024],
    ['5 MB', 5 * 1000 * 1000],
    ['one byte over 4 MiB', MAX_XML_BYTES + 1],
  ])('a %s file is refused by its size, before it is opened', (_l, size) => {
    const file = tempFile('huge.xml', '');
    fs.truncateSync(file, size);
    const open = vi.spyOn(fs, 'openSync');
    const read = vi.spyOn(fs, 'readFileSync');
    const e = inputErrorOf(() => readLibvirtXmlFile(file));
    expect(e.message).toBe(`${file} is ${size} bytes; vfioctl reads libvirt XML files of at most 4194304 bytes (4 MiB).`);
    expect(e.hint).toMatch(/a few kilobytes/);
    expect(open).not.toHaveBeenCalled();
    expect(read).not.toHaveBeenCalled();
  });

  it('a file of exactly 4 MiB is read', () => {
    const head = `<domain><name>big</name><!--`;
    const tail = `--></domain>`;
    const file = tempFile('4mib.xml', head + ' '.repeat(MAX_XML_BYTES - head.length - tail.length) + tail);
    expect(fs.statSync(file).size).toBe(MAX_XML_BYTES);
    expect(readLibvirtXmlFile(file).name).toBe('big');
  });

  it('an endless character device is read only up to the limit, then refused', () => {
    expect(inputErrorOf(() => readLibvirtXmlFile('/dev/zero')).message).toBe('/dev/zero is larger than 4194304 bytes; vfioctl reads libvirt XML files of at most 4194304 bytes (4 MiB).');
  });

  it.each([
    ['a stray 0xff byte', [0xff]],
    ['an overlong encoding of /', [0xc0, 0xaf]],
    ['a surrogate encoded in UTF-8', [0xed, 0xa0, 0x80]],
    ['a truncated sequence', [0xe2, 0x82]],
  ])('invalid UTF-8 (%s) is refused, naming the file', (_l, bad) => {
    const file = tempFile('bad.xml', '');
    fs.writeFileSync(file, Buffer.concat([Buffer.from('<domain><name>'), Buffer.from(bad), Buffer.from('</name></domain>')]));
    const e = inputErrorOf(() => readLibvirtXmlFile(file));
    expect(e.message).toBe(`${file} is not valid UTF-8 text; libvirt XML is UTF-8.`);
  });

  it('a UTF-16 file (as some Windows editors save it) is refused as not UTF-8', () => {
    const file = tempFile('utf16.xml', '');
    fs.writeFileSync(file, Buffer.from('\ufeff<domain><name>vm</name></domain>', 'utf16le'));
    expect(inputErrorOf(() => readLibvirtXmlFile(file)).message).toMatch(/is not valid UTF-8 text|malformed XML|not XML text/);
  });

  it('UTF-8 with a byte-order mark and non-ASCII text is read', () => {
    const file = tempFile('bom.xml', '\ufeff<domain><name>spiel-rechner-ü</name></domain>');
    expect(readLibvirtXmlFile(file).name).toBe('spiel-rechner-ü');
  });

  it('a missing file is not found, with the message users see', () => {
    const e = thrownBy(() => readLibvirtXmlFile('/nonexistent/vm.xml'));
    expect(e).toBeInstanceOf(NotFoundError);
    expect(e.message).toBe('Cannot read /nonexistent/vm.xml: it does not exist.');
    expect(thrownBy(() => readLibvirtXmlFile('/etc/hostname/vm.xml'))).toBeInstanceOf(NotFoundError);
  });

  it('a directory is invalid input', () => {
    const e = inputErrorOf(() => readLibvirtXmlFile('/tmp'));
    expect(e.message).toBe('Cannot read /tmp: it is a directory, not an XML file.');
  });

  it('a file we may not read is a permission error (simulated: the tests may run as root)', () => {
    vi.spyOn(fs, 'statSync').mockImplementation(() => {
      throw Object.assign(new Error('EACCES: permission denied'), { code: 'EACCES' });
    });
    const e = thrownBy(() => readLibvirtXmlFile('/etc/libvirt/qemu/vm.xml'));
    expect(e).toBeInstanceOf(PermissionError);
    expect(e.message).toBe('Cannot read /etc/libvirt/qemu/vm.xml: permission denied.');
  });

  it('an empty file is malformed XML', () => {
    expect(inputErrorOf(() => readLibvirtXmlFile('/dev/null')).message).toBe('/dev/null: malformed XML: missing root element');
  });
});

/** The error fn throws, whatever its class (these tests assert the class themselves). */
function thrownBy(fn: () => unknown): Error {
  try {
    fn();
  } catch (err) {
    if (err instanceof Error) return err;
  }
  throw new Error('expected an error');
}

