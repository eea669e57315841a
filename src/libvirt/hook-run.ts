import { ExitCode, InputError, printable, VfioctlError } from '../errors.js';
import { prepareFor, releaseFor, type HookContext } from './hook-actions.js';
import type { HookDriver } from './hook-script.js';
import { readDomainInput, readNetworkInput } from './hook-xml.js';

/**
 * `vfioctl hook run qemu|network OBJECT OPERATION SUBOPERATION EXTRA`, as libvirt calls its hooks (libvirt's
 * docs/hooks.rst, "Specifics"), with the XML on stdin:
 *   qemu    `prepare begin`  detach the domain's devices (before libvirt touches any of them; a non-zero exit
 *                            aborts the start, and libvirt shows the one line on stderr in virsh's error)
 *           `release end`    give back what vfioctl moved for the domain (also after a start that failed)
 *           `migrate begin`, `restore begin`: libvirt reads the hook's stdout as the domain XML (a filter):
 *                            the input is printed back unchanged
 *   network `start begin`    detach a hostdev network's pool when it has group modes
 *           `stopped end`    give it back
 * Every other operation (start, started, stopped, reconnect, attach; started, port-created, updated …) exits
 * 0 at once and changes nothing. The hook never calls virsh or the libvirt API: libvirt is waiting for it.
 */
export const HOOK_LOCK_TIMEOUT_S = 10;

/** libvirt operations whose hook output replaces the domain XML (docs/hooks.rst: "the script acts as a filter"). */
const QEMU_FILTERS = new Set(['migrate begin', 'restore begin']);

export interface HookIo {
  /** The whole of stdin, read once. */
  input: () => string;
  stdout: (text: string) => void;
  stderr: (text: string) => void;
}

function qemuHook(args: string[], ctx: HookContext, io: HookIo): void {
  const [domain, op, subop] = args as [string, string, string];
  const input = io.input();
  const what = `${op} ${subop}`;
  if (QEMU_FILTERS.has(what)) {
    io.stdout(input);
    return;
  }
  if (what === 'prepare begin') {
    // A domain without any hostdev (the usual VM) is done without parsing or locking anything.
    if (!input.includes('hostdev')) return;
    const { owner, document } = readDomainInput(input, domain);
    prepareFor(document(), owner, ctx, `hook qemu prepare ${owner.name}`);
  } else if (what === 'release end') {
    const { owner } = readDomainInput(input, domain);
    releaseFor(owner, ctx, `hook qemu release ${owner.name}`);
  }
}

function networkHook(args: string[], ctx: HookContext, io: HookIo): void {
  const [network, op, subop] = args as [string, string, string];
  const input = io.input();
  const what = `${op} ${subop}`;
  if (what === 'start begin') {
    if (!input.includes('hostdev')) return;
    const { owner, document } = readNetworkInput(input, network);
    const doc = document();
    // Only a pool whose group mode was asked for: libvirt itself prepares the devices of a plain pool.
    if (!doc.assignments.some((a) => a.groupModeExplicit || a.groupMode === 'auto')) return;
    prepareFor(doc, owner, ctx, `hook network start ${owner.name}`);
  } else if (what === 'stopped end') {
    const { owner } = readNetworkInput(input, network);
    releaseFor(owner, ctx, `hook network stopped ${owner.name}`);
  }
}

/** One line for libvirt's log and virsh's error: the message's lines joined, its hint after it. */
export function oneLine(err: VfioctlError): string {
  const parts = `${err.message}\n${err.hint ?? ''}`
    .split('\n')
    .map((l) => l.trim().replace(/^- /, ''))
    .filter((l) => l !== '');
  return parts.reduce((line, part) => (line === '' ? part : `${line}${/[:,]$/.test(line) ? ' ' : line.endsWith('.') ? ' ' : '; '}${part}`), '');
}

/** Runs a hook; returns the exit code, having written at most one line to stderr. */
export function runHook(driver: HookDriver, args: string[], ctx: HookContext, io: HookIo): number {
  try {
    if (args.length < 3) {
      throw new InputError(`hook run ${driver} needs libvirt's arguments: OBJECT OPERATION SUBOPERATION [EXTRA], got ${args.length}.`);
    }
    if (driver === 'qemu') qemuHook(args, ctx, io);
    else networkHook(args, ctx, io);
    return ExitCode.ok;
  } catch (err) {
    if (err instanceof VfioctlError) {
      io.stderr(`vfioctl: ${oneLine(err)}\n`);
      return err.exitCode;
    }
    const message = err instanceof Error ? err.message : String(err);
    io.stderr(`vfioctl: internal error in the ${driver} hook (${printable(args.slice(0, 3).join(' '))}): ${printable(message, 200)}; this is a bug in vfioctl, please report it.\n`);
    return ExitCode.internal;
  }
}
