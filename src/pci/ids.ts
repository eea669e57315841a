import fs from 'node:fs';
import path from 'node:path';
import { errnoOf, InputError, isAbsent, NotFoundError, PermissionError } from '../errors.js';

/**
 * Vendor and device names from the host's pci.ids (the file lspci uses). Looked up in the host root first,
 * then on the running system; VFIOCTL_PCI_IDS names a file explicitly ('' disables names), and a file it names
 * that cannot be read is an error: a typo there must not pass for a host without names. The file is read
 * once, lazily, and searched with indexOf for just the IDs asked: no full parse.
 */
const CANDIDATES = ['/usr/share/misc/pci.ids', '/usr/share/hwdata/pci.ids', '/usr/share/pci.ids', '/usr/local/share/pci.ids'];

/**
 * The whole file, opened without blocking and only if it is a regular file: a FIFO put at a pci.ids path would
 * otherwise block the open forever (src/host/regular-file.ts says why; this layer sits below it).
 */
function readIdsFile(file: string): Buffer | 'not a regular file' {
  const fd = fs.openSync(file, fs.constants.O_RDONLY | fs.constants.O_NONBLOCK);
  try {
    return fs.fstatSync(fd).isFile() ? fs.readFileSync(fd) : 'not a regular file';
  } finally {
    fs.closeSync(fd);
  }
}

function readExplicit(file: string): Buffer {
  const hint = "Name lspci's pci.ids (/usr/share/misc/pci.ids on Debian), or set VFIOCTL_PCI_IDS='' to show IDs without names.";
  try {
    const read = readIdsFile(file);
    if (typeof read === 'string') throw new InputError(`VFIOCTL_PCI_IDS names '${file}', which is ${read} (a FIFO, a device or a directory).`, hint);
    return read;
  } catch (err) {
    if (err instanceof InputError) throw err;
    const code = errnoOf(err);
    if (isAbsent(err)) throw new NotFoundError(`VFIOCTL_PCI_IDS names '${file}', which does not exist.`, hint);
    if (code === 'EACCES' || code === 'EPERM') throw new PermissionError(`VFIOCTL_PCI_IDS names '${file}', which vfioctl may not read (${code}).`, hint);
    throw new InputError(`VFIOCTL_PCI_IDS names '${file}', which is not a readable file (${code ?? String(err)}).`, hint);
  }
}

export class PciIds {
  private text: Buffer | null | undefined;
  constructor(private readonly root: string) {}

  private load(): Buffer | null {
    if (this.text !== undefined) return this.text;
    const explicit = process.env.VFIOCTL_PCI_IDS;
    if (explicit) return (this.text = readExplicit(explicit));
    const files =
      explicit === ''
        ? []
        : [...CANDIDATES.map((f) => path.join(this.root, f)), ...(this.root === '/' ? [] : CANDIDATES)];
    this.text = null;
    for (const f of files) {
      try {
        // A Buffer, searched natively: no string of the whole file to build and collect on every start.
        const read = readIdsFile(f);
        if (typeof read === 'string') continue; // not pci.ids: try the next place
        this.text = read;
        break;
      } catch {
        // try the next place
      }
    }
    return this.text;
  }

  private readonly cache = new Map<string, { vendor?: string; device?: string }>();

  /** Vendor and device names, or undefined when pci.ids is missing or does not know them. Memoized per ID pair. */
  names(vendor: string, device: string): { vendor?: string; device?: string } {
    const key = `${vendor}:${device}`;
    let hit = this.cache.get(key);
    if (!hit) {
      hit = this.lookup(vendor, device);
      this.cache.set(key, hit);
    }
    return hit;
  }

  private lookup(vendor: string, device: string): { vendor?: string; device?: string } {
    const text = this.load();
    if (!text) return {};
    // pci.ids is UTF-8 ('Hilscher Gesellschaft für Systemautomation mbH'); the IDs searched for are ASCII.
    const line = (start: number): string => {
      const end = text.indexOf(0x0a, start);
      return text.toString('utf8', start, end < 0 ? text.length : end);
    };
    const v = text.indexOf(`\n${vendor}  `, 0, 'latin1');
    if (v < 0) return {};
    const vendorName = line(v + 7);
    // The vendor's block ends at the next vendor line. pci.ids is sorted by vendor ID, so that is the next line
    // starting with the same first digit, or failing that with the next higher digit: one short native search.
    let blockEnd = text.length;
    const digits = '0123456789abcdef';
    for (let c = digits.indexOf(vendor[0]!); c >= 0 && c < digits.length; c++) {
      const i = text.indexOf(`\n${digits[c]}`, v + 1, 'latin1');
      if (i >= 0) {
        blockEnd = i;
        break;
      }
    }
    const d = text.indexOf(`\n\t${device}  `, v + 1, 'latin1');
    if (d >= 0 && d < blockEnd) return { vendor: vendorName, device: line(d + 8) };
    return { vendor: vendorName };
  }
}
