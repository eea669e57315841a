import { InputError, printable } from '../errors.js';
import type { LibvirtDocument } from './assignment.js';
import { parseDomain } from './domain.js';
import { resolveGroupModes } from './group-mode.js';
import { parseGroupMetadata } from './metadata.js';
import { parseNetwork } from './network.js';
import { readXmlText } from './read-file.js';
import { parseXmlSafely } from './safe-parse.js';

/**
 * The XML front end: libvirt domain and network XML → typed assignments (src/xml/assignment.ts). Parsing is
 * pure; every address and interface name is validated into a typed value before anything builds a path.
 * Every problem with the user's file is an InputError whose message starts with FILE:LINE: <element>:.
 */
export type { Assignment, AssignmentTarget, GroupMode, GroupModeSource, LibvirtDocument, NotHandled, SourceRef } from './assignment.js';
export { VFIOCTL_NS } from './metadata.js';
export { MAX_XML_BYTES } from './read-file.js';
export { MAX_DEPTH } from './safe-parse.js';

/** Parses libvirt domain or network XML held in memory; `file` names it in messages and in each SourceRef. */
export function parseLibvirtXml(text: string, file: string): LibvirtDocument {
  const root = parseXmlSafely(text, file).documentElement!;
  if (root.tagName === 'domain') return resolveGroupModes(parseDomain(root, file), parseGroupMetadata(root, file));
  if (root.tagName === 'network') return resolveGroupModes(parseNetwork(root, file), parseGroupMetadata(root, file));
  throw new InputError(
    `${file}: the root element is <${printable(root.tagName)}>; vfioctl reads libvirt domain XML (<domain>) and network XML (<network>).`,
    'Give it the file virsh dumpxml or virsh net-dumpxml prints, or the one under /etc/libvirt.',
  );
}

/** Reads and parses a file: at most 4 MiB (refused by its size before it is read), strict UTF-8. */
export function readLibvirtXmlFile(file: string): LibvirtDocument {
  return parseLibvirtXml(readXmlText(file), file);
}
