import type { Element } from '@xmldom/xmldom';
import { InputError, printable } from '../errors.js';
import type { LibvirtDocument } from './assignment.js';
import { parseDomain } from './domain.js';
import { refuseDuplicates } from './duplicates.js';
import { resolveGroupModes } from './group-mode.js';
import { parseGroupMetadata } from './metadata.js';
import { parseNetwork } from './network.js';
import { parseXmlSafely } from './safe-parse.js';

/** A parsed libvirt document together with its DOM root, for the code that edits the text (src/xml/metadata-rewrite.ts). */
export function parseLibvirtDocument(text: string, file: string): { doc: LibvirtDocument; root: Element } {
  const root = parseXmlSafely(text, file).documentElement!;
  if (root.tagName === 'domain') return { doc: resolveGroupModes(refuseDuplicates(parseDomain(root, file)), parseGroupMetadata(root, file)), root };
  if (root.tagName === 'network') return { doc: resolveGroupModes(refuseDuplicates(parseNetwork(root, file)), parseGroupMetadata(root, file)), root };
  throw new InputError(
    `${file}: the root element is <${printable(root.tagName)}>; vfioctl reads libvirt domain XML (<domain>) and network XML (<network>).`,
    'Give it the file virsh dumpxml or virsh net-dumpxml prints, or the one under /etc/libvirt.',
  );
}
