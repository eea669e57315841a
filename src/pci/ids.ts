import fs from 'node:fs';
import path from 'node:path';

/**
 * Vendor and device names from the host's pci.ids (the file lspci uses). Looked up in the host root first,
 * then on the running system; VFIOCTL_PCI_IDS names a file explicitly ('' disables names). The file is read
 * once, lazily, and searched with indexOf for just the IDs asked: no full parse.
 */
const CANDIDATES = ['/usr/share/misc/pci.ids', '/usr/share/hwdata/pci.ids', '/usr/share/pci.ids', '/usr/local/share/pci.ids'];

export class PciIds {
  private text: string | null | undefined;
  constructor(private readonly root: string) {}

  private load(): string | null {
    if (this.text !== undefined) return this.text;
    const explicit = process.env.VFIOCTL_PCI_IDS;
    const files =
      explicit !== undefined
        ? explicit === ''
          ? []
          : [explicit]
        : [...CANDIDATES.map((f) => path.join(this.root, f)), ...(this.root === '/' ? [] : CANDIDATES)];
    this.text = null;
    for (const f of files) {
      try {
        this.text = fs.readFileSync(f, 'latin1');
        break;
      } catch {
        // try the next place
      }
    }
    return this.text;
  }

  /** Vendor and device names, or undefined when pci.ids is missing or does not know them. */
  names(vendor: string, device: string): { vendor?: string; device?: string } {
    const text = this.load();
    if (!text) return {};
    const v = text.indexOf(`\n${vendor}  `);
    if (v < 0) return {};
    const vEnd = text.indexOf('\n', v + 1);
    const vendorName = text.slice(v + 7, vEnd < 0 ? undefined : vEnd);
    // Device lines follow, indented by one tab, until the next unindented line.
    let pos = vEnd;
    while (pos >= 0 && pos < text.length - 1) {
      const next = text.indexOf('\n', pos + 1);
      const line = text.slice(pos + 1, next < 0 ? undefined : next);
      if (line.length > 0 && line[0] !== '\t' && line[0] !== '#') break;
      if (line.startsWith(`\t${device}  `)) return { vendor: vendorName, device: line.slice(7) };
      pos = next;
    }
    return { vendor: vendorName };
  }
}
