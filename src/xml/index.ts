import type { LibvirtDocument } from './assignment.js';
import { parseLibvirtDocument } from './document.js';
import { inputName, readXmlText } from './read-file.js';

/**
 * The XML front end: libvirt domain and network XML → typed assignments (src/xml/assignment.ts). Parsing is
 * pure; every address and interface name is validated into a typed value before anything builds a path.
 * Every problem with the user's file is an InputError whose message starts with FILE:LINE: <element>:.
 */
export type { Assignment, AssignmentTarget, GroupMode, GroupModeSource, LibvirtDocument, NotHandled, SourceRef } from './assignment.js';
export { VFIOCTL_NS } from './metadata.js';
export { moveGroupModesToMetadata } from './metadata-rewrite.js';
export { inputName, MAX_XML_BYTES, readXmlText, STDIN_NAME } from './read-file.js';
export { MAX_DEPTH } from './safe-parse.js';

/** Parses libvirt domain or network XML held in memory; `file` names it in messages and in each SourceRef. */
export function parseLibvirtXml(text: string, file: string): LibvirtDocument {
  return parseLibvirtDocument(text, file).doc;
}

/** Reads and parses a file (`-`: standard input, named `<stdin>`): at most 4 MiB, strict UTF-8. */
export function readLibvirtXmlFile(file: string): LibvirtDocument {
  return parseLibvirtXml(readXmlText(file), inputName(file));
}
