import fs from 'node:fs';
import { InputError } from '../errors.js';
import { isTerminal } from '../render/terminal.js';
import { MAX_XML_BYTES } from '../xml/read-file.js';

/**
 * libvirt's standard input to a hook: the domain XML (qemu) or <hookData> (network). Read whole, for every
 * operation, even those the hook ignores: libvirt writes it into a pipe, and a hook that exits without
 * reading would leave libvirt writing into a closed pipe. Capped as XML files are (src/xml/read-file.ts),
 * strict UTF-8. A terminal on stdin (someone trying the command by hand) gives an empty input.
 */
export function readHookInput(fd = 0): string {
  if (isTerminal(fd)) return '';
  const buf = Buffer.allocUnsafe(MAX_XML_BYTES + 1);
  let filled = 0;
  while (filled < buf.length) {
    let n: number;
    try {
      n = fs.readSync(fd, buf, filled, buf.length - filled, null);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'EAGAIN') {
        Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 2);
        continue;
      }
      if (code === 'EOF') break;
      throw new InputError(`Cannot read the hook's standard input: ${code ?? String(err)}.`);
    }
    if (n === 0) break;
    filled += n;
  }
  if (filled > MAX_XML_BYTES) throw new InputError(`The XML on the hook's standard input is larger than ${MAX_XML_BYTES} bytes (4 MiB); vfioctl refuses it.`);
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(buf.subarray(0, filled));
  } catch {
    throw new InputError("The XML on the hook's standard input is not valid UTF-8; libvirt writes UTF-8.");
  }
}
