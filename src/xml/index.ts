import { InputError } from '../errors.js';
import type { LibvirtDocument } from './assignment.js';
import { parseDomain } from './domain.js';
import { parseNetwork } from './network.js';
import { readXmlText } from './read-file.js';
import { parseXmlSafely } from './safe-parse.js';

/**
 * The XML front end: libvirt domain and network XML → typed assignments (src/xml/assignment.ts). Parsing is
 * pure; every address and interface name is validated into a typed value before anything builds a path.
 */
export type { LibvirtDocument } from './assignment.js';

export function parseLibvirtXml(text: string, file: string): LibvirtDocument {
  const doc = parseXmlSafely(text, file);
  const root = doc.documentElement!;
  if (root.tagName === 'domain') return parseDomain(root, file);
  if (root.tagName === 'network') return parseNetwork(root, file);
  throw new InputError(`${file}: the root element is <${root.tagName}>; vfioctl reads libvirt domain XML (<domain>) and network XML (<network>).`);
}

export function readLibvirtXmlFile(file: string): LibvirtDocument {
  return parseLibvirtXml(readXmlText(file), file);
}
