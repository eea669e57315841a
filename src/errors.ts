/**
 * Typed errors: one class per kind of failure the user can act on, each with its own exit code.
 * Only src/cli/main.ts turns them into output and an exit status; everything else throws.
 * The table is mirrored in README.md ("Exit codes"); test/cli/exit-codes.test.ts keeps them in step.
 */
export const ExitCode = {
  ok: 0,
  internal: 1,
  usage: 2,
  invalidInput: 3,
  notFound: 4,
  iommuOff: 5,
  unsafe: 6,
  notViable: 7,
  vfioUnavailable: 8,
  permission: 9,
  kernelRefused: 10,
  rollbackIncomplete: 11,
  locked: 12,
  hostTree: 13,
  /**
   * `persist --verify`'s verdict: a persisted device is missing, changed, or not on vfio-pci, or its group is
   * not viable. Not an error class: the report is the output (its JSON says `"exitCode": 14`) and the command
   * returns the code, as `check` returns its own; src/persist/verify.ts is its one owner.
   */
  persistCheck: 14,
  output: 15,
  journalWrite: 16,
} as const;
export type ExitCodeValue = (typeof ExitCode)[keyof typeof ExitCode];

export abstract class VfioctlError extends Error {
  abstract readonly exitCode: ExitCodeValue;
  /** Optional second line: what the user can do about it. */
  readonly hint: string | undefined;
  /** What `--json` adds to the error object besides exitCode, kind, message and hint (e.g. what was done and undone). */
  readonly details: Record<string, unknown> | undefined;
  constructor(message: string, hint?: string, details?: Record<string, unknown>) {
    super(message);
    this.name = new.target.name;
    this.hint = hint;
    this.details = details;
  }
}

/** The name of an exit code in the table (`kernelRefused` for 10): the `kind` of an error in `--json` output. */
export function exitCodeKind(code: number): string {
  return Object.entries(ExitCode).find(([, v]) => v === code)?.[0] ?? 'internal';
}

/** A command line that cannot mean anything: a missing or conflicting argument, an invalid option value. */
export class UsageError extends VfioctlError {
  readonly exitCode = ExitCode.usage;
}

/** Bad text from the user: an address, an interface name, XML, a command-line value. */
export class InputError extends VfioctlError {
  readonly exitCode = ExitCode.invalidInput;
}
/** Something the user named does not exist on this host (a device, a file, an interface). */
export class NotFoundError extends VfioctlError {
  readonly exitCode = ExitCode.notFound;
}
/** The host has no IOMMU groups, or a device sits outside any group. */
export class IommuError extends VfioctlError {
  readonly exitCode = ExitCode.iommuOff;
}
/** A device the host needs (boot GPU, a NIC with traffic, a disk controller) would be taken away. */
export class UnsafeError extends VfioctlError {
  readonly exitCode = ExitCode.unsafe;
}
/**
 * The group would not be viable for VFIO after the requested moves, or vfioctl holds it for another libvirt
 * domain or network (the hook's `prepare`, a `reattach FILE` by hand: src/plan/ownership.ts).
 */
export class NotViableError extends VfioctlError {
  readonly exitCode = ExitCode.notViable;
}
/** vfio-pci is not loaded and cannot be loaded. */
export class VfioUnavailableError extends VfioctlError {
  readonly exitCode = ExitCode.vfioUnavailable;
}
/** Not allowed: not root on a real host, or a file we may not read. */
export class PermissionError extends VfioctlError {
  readonly exitCode = ExitCode.permission;
}
/** The kernel refused a write; everything that had moved was put back. */
export class KernelWriteError extends VfioctlError {
  readonly exitCode = ExitCode.kernelRefused;
}
/** A write failed and the rollback could not restore everything: the message lists what is left. */
export class RollbackIncompleteError extends VfioctlError {
  readonly exitCode = ExitCode.rollbackIncomplete;
}
/** Busy: another vfioctl holds the host's lock, or a running VM holds a group a reattach would take from it (src/run/in-use.ts). */
export class LockedError extends VfioctlError {
  readonly exitCode = ExitCode.locked;
}
/** The host root is unreadable or its sysfs tree is malformed (loops, links outside the tree, garbage). */
export class HostTreeError extends VfioctlError {
  readonly exitCode = ExitCode.hostTree;
}

/** vfioctl could not write its own output: standard output or an -o file (a full disk, a read-only file system). */
export class OutputError extends VfioctlError {
  readonly exitCode = ExitCode.output;
}

/**
 * vfioctl could not write its journal or lock in ROOT/run/vfioctl (a full or read-only file system): nothing
 * was left moved (a detach that had begun was rolled back), or the message says what is left.
 */
export class JournalWriteError extends VfioctlError {
  readonly exitCode = ExitCode.journalWrite;
}

/** A failed sysfs write, in libvirt's shape: the value, the file and the errno. */
export interface WriteFailure {
  path: string;
  value: string;
  errno: string;
}

export function describeWriteFailure(f: WriteFailure): string {
  return `Failed to write '${printable(f.value)}' to '${f.path}': ${f.errno} (${errnoText(f.errno)})`;
}

const ERRNO_TEXT: Record<string, string> = {
  EPERM: 'operation not permitted',
  ENOENT: 'no such file or directory',
  EIO: 'input/output error',
  EBUSY: 'device or resource busy',
  EEXIST: 'file exists',
  ENODEV: 'no such device',
  EINVAL: 'invalid argument',
  EACCES: 'permission denied',
  ENOSPC: 'no space left on device',
  EROFS: 'read-only file system',
  ETIMEDOUT: 'timed out waiting for the driver',
};
export function errnoText(code: string): string {
  return ERRNO_TEXT[code] ?? 'error';
}

/** The errno code of a failed system call (`ENOENT`, `EACCES` ...), or undefined for an error without one. */
export function errnoOf(err: unknown): string | undefined {
  return (err as NodeJS.ErrnoException | null)?.code;
}

/** Whether a failed system call says the path is not there: ENOENT, or ENOTDIR (a component of it is a file). */
export function isAbsent(err: unknown): boolean {
  const code = errnoOf(err);
  return code === 'ENOENT' || code === 'ENOTDIR';
}

/** Renders user text safely inside an error message: control characters become escapes. */
export function printable(text: string, max = 80): string {
  const shown = text.length > max ? `${text.slice(0, max)}…` : text;
   
  return shown.replace(/[\u0000-\u001f\u007f]/g, (c) => (c === '\n' ? '\\n' : `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`));
}
