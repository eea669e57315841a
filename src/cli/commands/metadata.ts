import type { Output } from '../../render/output.js';
import { inputName, moveGroupModesToMetadata, readXmlText } from '../../xml/index.js';

/** `vfioctl metadata FILE`: the file with its group attributes moved into vfioctl's <metadata> element, on stdout. */
export function metadataCommand(file: string, out: Output): number {
  out.stdout(moveGroupModesToMetadata(readXmlText(file), inputName(file)));
  return 0;
}
