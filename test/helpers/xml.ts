import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll } from 'vitest';

export interface HostdevSpec {
  address: string; // 0000:01:00.0
  group?: 'auto' | 'manual' | string;
  managed?: 'yes' | 'no';
  driver?: string | null; // default vfio
}

/** A libvirt domain with PCI hostdevs, as a user would write it. */
export function domainXml(name: string, hostdevs: HostdevSpec[]): string {
  const devs = hostdevs
    .map((h) => {
      const [d, b, sf] = h.address.split(':') as [string, string, string];
      const [s, f] = sf.split('.') as [string, string];
      const group = h.group ? ` group='${h.group}'` : '';
      const driver = h.driver === null ? '' : `\n      <driver name='${h.driver ?? 'vfio'}'${group}/>`;
      return `    <hostdev mode='subsystem' type='pci' managed='${h.managed ?? 'yes'}'>${driver}
      <source>
        <address domain='0x${d}' bus='0x${b}' slot='0x${s}' function='0x${f}'/>
      </source>
    </hostdev>`;
    })
    .join('\n');
  return `<domain type='kvm'>
  <name>${name}</name>
  <memory unit='GiB'>4</memory>
  <devices>
${devs}
  </devices>
</domain>
`;
}

const made: string[] = [];
// Each test file that writes temp XML removes it when its tests are done.
afterAll(() => {
  for (const d of made.splice(0)) fs.rmSync(d, { recursive: true, force: true });
});

/** Writes text to a fresh temp file and returns its path; the file goes when the test process exits. */
export function tempFile(name: string, text: string): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'vfioctl-xml-'));
  made.push(dir);
  const file = path.join(dir, name);
  fs.writeFileSync(file, text);
  return file;
}
