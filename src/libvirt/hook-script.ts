/**
 * The script vfioctl installs as a libvirt hook, as text (no I/O). libvirt runs hooks with a minimal
 * environment (LC_ALL, PATH, HOME, USER, LOGNAME: docs/hooks.rst of libvirt, "Return codes and logging"),
 * so the script names node and vfioctl by the absolute paths they had at install time, and passes
 * libvirt's four arguments and its standard input on unchanged.
 *
 * The second line is the marker: a file at a hook's path is vfioctl's when that line is there, and only
 * then does `hook install` replace it or `hook uninstall` remove it.
 *
 * libvirt runs the qemu hook five times for every VM start and stop, with or without a hostdev. Only the
 * operations in HOOK_OPERATIONS need vfioctl; the script answers every other one itself (it reads libvirt's
 * stdin to its end, so libvirt never writes into a closed pipe, and exits 0), so those cost a shell, not a
 * Node start (bench/results.md, "VM start: the libvirt hook").
 */
export type HookDriver = 'qemu' | 'network';
export const HOOK_DRIVERS: readonly HookDriver[] = ['qemu', 'network'];

export const HOOK_MARKER = '# vfioctl-hook 1';

/** The `OPERATION SUBOPERATION` pairs that `vfioctl hook run` acts on (src/libvirt/hook-run.ts). */
export const HOOK_OPERATIONS: Record<HookDriver, readonly string[]> = {
  qemu: ['prepare begin', 'release end', 'migrate begin', 'restore begin'],
  network: ['start begin', 'stopped end'],
};

export interface HookTarget {
  /** process.execPath of the node that ran `hook install`. */
  node: string;
  /** The real path of the bin/vfioctl it was run as. */
  vfioctl: string;
}

/** POSIX single quotes: nothing inside is special; a quote itself is closed, escaped and reopened. */
export function shellQuote(text: string): string {
  return `'${text.replace(/'/g, `'\\''`)}'`;
}

export function hookCommand(driver: HookDriver, target: HookTarget): string {
  return `${shellQuote(target.node)} ${shellQuote(target.vfioctl)} hook run ${driver}`;
}

export function hookScript(driver: HookDriver, target: HookTarget): string {
  return [
    '#!/bin/sh',
    `${HOOK_MARKER} (${driver}): written by \`vfioctl hook install\`, removed by \`vfioctl hook uninstall\`.`,
    "# libvirt gives hooks a minimal environment: node and vfioctl by absolute path; arguments and stdin as libvirt gives them.",
    '# Every other operation needs nothing from vfioctl: read the XML libvirt writes, and succeed.',
    'case "$2 $3" in',
    `  ${HOOK_OPERATIONS[driver].map(shellQuote).join('|')}) ;;`,
    '  *) while IFS= read -r _; do :; done; exit 0 ;;',
    'esac',
    `exec ${hookCommand(driver, target)} "$@"`,
    '',
  ].join('\n');
}

/** Reads one single-quoted word at the start of `text` (as shellQuote writes it); returns it and the rest. */
function unquote(text: string): [string, string] | null {
  let word = '';
  let rest = text;
  for (;;) {
    const m = /^'([^']*)'/.exec(rest);
    if (!m) return null;
    word += m[1];
    rest = rest.slice(m[0].length);
    if (!rest.startsWith("\\'")) return [word, rest];
    word += "'";
    rest = rest.slice(2);
  }
}

export interface ParsedHook extends HookTarget {
  driver: HookDriver;
}

/** Whether a file is vfioctl's hook: its marker line is there (whatever was edited below it). */
export function isOurHook(text: string): boolean {
  return text.split('\n').some((l) => l.startsWith(HOOK_MARKER));
}

/** The driver and paths of a script vfioctl wrote; null when the text is not vfioctl's hook as written. */
export function parseHookScript(text: string): ParsedHook | null {
  const lines = text.split('\n');
  if (!isOurHook(text)) return null;
  const exec = lines.find((l) => l.startsWith('exec '));
  if (!exec) return null;
  const node = unquote(exec.slice('exec '.length));
  if (!node) return null;
  const vfioctl = unquote(node[1].replace(/^ /, ''));
  if (!vfioctl) return null;
  const m = /^ hook run (qemu|network) "\$@"$/.exec(vfioctl[1]);
  if (!m) return null;
  return { driver: m[1] as HookDriver, node: node[0], vfioctl: vfioctl[0] };
}
