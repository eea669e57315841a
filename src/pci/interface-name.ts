import { InputError, printable } from '../errors.js';

/** A network interface name that passed the kernel's rules (net/core/dev.c dev_valid_name). */
export type InterfaceName = string & { readonly __brand: 'InterfaceName' };

const IFNAMSIZ = 16; // including the terminating NUL: at most 15 bytes of name

/**
 * The kernel's dev_valid_name(): non-empty, shorter than IFNAMSIZ bytes, not "." or "..", and no '/',
 * ':' or whitespace. NUL and other control characters are refused too (they cannot reach the kernel).
 */
export function parseInterfaceName(text: string, where = 'interface name'): InterfaceName {
  const bytes = Buffer.byteLength(text, 'utf8');
  let problem: string | undefined;
  if (bytes === 0) problem = 'it is empty';
  else if (bytes >= IFNAMSIZ) problem = `it is ${bytes} bytes long; the kernel allows at most ${IFNAMSIZ - 1}`;
  else if (text === '.' || text === '..') problem = `'${text}' is not a name`;
  else if (text.includes('/')) problem = "it contains '/'";
  else if (text.includes(':')) problem = "it contains ':'";
   
  else if (/[\s\u0000-\u001f\u007f]/.test(text)) problem = 'it contains whitespace or control characters';
  if (problem) throw new InputError(`Invalid ${where} '${printable(text)}': ${problem}.`);
  return text as InterfaceName;
}
