import tty from 'node:tty';
import { readStdinText } from '../xml/read-file.js';

/**
 * libvirt's standard input to a hook: the domain XML (qemu) or <hookData> (network). Read whole, for every
 * operation, even those the hook ignores: libvirt writes it into a pipe, and a hook that exits without
 * reading would leave libvirt writing into a closed pipe. Read as `vfioctl check -` reads it (the XML
 * front end's cap and strict UTF-8); a terminal on stdin (someone trying the command by hand) gives an
 * empty input instead of an error.
 */
export function readHookInput(): string {
  return tty.isatty(0) ? '' : readStdinText("the hook's standard input");
}
