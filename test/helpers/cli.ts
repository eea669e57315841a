import { spawn, spawnSync } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { run } from '../../src/cli/program.js';

export const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
export const BIN = path.join(REPO, 'bin', 'vfioctl');
export const fixture = (...p: string[]): string => path.join(REPO, 'test', 'fixtures', ...p);

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
  /** The signal that ended the process (runBin only), e.g. SIGKILL. */
  signal?: string | null;
}

/** Runs the real bin/vfioctl (the built bundle) as a subprocess. */
export function runBin(args: string[], env: NodeJS.ProcessEnv = {}): CliResult {
  const r = spawnSync(process.execPath, [BIN, ...args], {
    encoding: 'utf8',
    env: { ...process.env, NO_COLOR: '1', VFIOCTL_PCI_IDS: '', ...env },
    timeout: 60_000,
  });
  if (r.error) throw r.error;
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr, signal: r.signal };
}

/**
 * Starts bin/vfioctl without waiting (runs at once, on one host), resolving with its exit code and stderr.
 * `closeStdout`: the reader of its stdout goes away before the first line (`| head -0`).
 */
export function startBin(args: string[], opts: { closeStdout?: boolean } = {}): Promise<{ code: number | null; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [BIN, ...args], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, NO_COLOR: '1', VFIOCTL_PCI_IDS: '' } });
    if (opts.closeStdout) child.stdout.destroy(); // every write of the child then gets EPIPE
    else child.stdout.resume();
    let stderr = '';
    child.stderr.on('data', (d) => (stderr += d));
    child.on('close', (code) => resolve({ code, stderr }));
  });
}

/**
 * Lets the test worker's event loop turn. A campaign is one long chain of synchronous commands; vitest's
 * worker answers its runner's messages only when the loop turns, and fails the run ("Timeout calling
 * onTaskUpdate") when a test holds the loop for 60 s, as the fault campaign does on a slow machine.
 */
export function yieldToRunner(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

/** Runs the CLI in-process through run(): the same code path as bin/, without a process. */
export async function runCli(args: string[]): Promise<CliResult> {
  let stdout = '';
  let stderr = '';
  const code = await run(args, { stdout: (t) => void (stdout += t), stderr: (t) => void (stderr += t), color: false });
  await yieldToRunner();
  return { code, stdout, stderr };
}

export function json<T = any>(r: CliResult): T {
  try {
    return JSON.parse(r.stdout) as T;
  } catch {
    throw new Error(`not JSON (exit ${r.code}):\n${r.stdout}\n${r.stderr}`);
  }
}

/** The groups `vfioctl list --json --root ROOT` prints, through bin/. */
export function listedGroups(root: string): any[] {
  return json(runBin(['list', '--json', '--root', root])).groups;
}

/** Every device `list --json` prints, across its groups, in list order. */
export function listedDevices(root: string): any[] {
  return listedGroups(root).flatMap((g: any) => g.devices);
}

/** The first device of `list --json` that matches; throws, naming what was looked for, when none does. */
export function findListedDevice(root: string, what: string, pred: (d: any) => boolean): any {
  const dev = listedDevices(root).find(pred);
  if (dev === undefined) throw new Error(`list --json --root ${root} shows no ${what}`);
  return dev;
}
