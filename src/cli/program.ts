import { Argument, Command, CommanderError, InvalidArgumentError, Option } from 'commander';
import { ExitCode, exitCodeKind, VfioctlError } from '../errors.js';
import { colorPalette, makeOutput, PLAIN, stderrPalette, type Output } from '../render/output.js';
import { COLOR_MODES, colorModeOf, streamPalette } from '../render/color.js';
import { addHelpFooters } from './help.js';
import { isSnapshotRoot } from '../mock/snapshot-path.js';
// The one place the version lives is package.json; esbuild inlines it into the bundle at build time.
import pkg from '../../package.json' with { type: 'json' };

/**
 * The CLI as a plain function: parses argv, runs one command, returns the exit code. Only main.ts calls
 * process.exit; tests call run() directly with their own output sinks.
 */
export interface RunOptions {
  stdout?: (t: string) => void;
  stderr?: (t: string) => void;
  env?: NodeJS.ProcessEnv;
  color?: boolean;
}

export interface GlobalOptions {
  root: string;
  json: boolean;
}

/** The output of one run: colour decided per stream (src/render/color.ts), unless the caller fixes it. */
async function makeRunOutput(argv: string[], opts: RunOptions, env: NodeJS.ProcessEnv): Promise<Output> {
  if (opts.color !== undefined) {
    const palette = opts.color ? await colorPalette() : PLAIN;
    return makeOutput({ stdout: opts.stdout, stderr: opts.stderr, color: palette, errColor: palette });
  }
  const mode = colorModeOf(argv);
  const [color, errColor] = await Promise.all([streamPalette(1, mode, env), streamPalette(2, mode, env)]);
  return makeOutput({ stdout: opts.stdout, stderr: opts.stderr, color, errColor });
}

export async function run(argv: string[], opts: RunOptions = {}): Promise<number> {
  const env = opts.env ?? process.env;
  const out = await makeRunOutput(argv, opts, env);
  let code: number = ExitCode.ok;
  // The installed hook runs `vfioctl hook run DRIVER "$@"` (src/libvirt/hook-script.ts): the arguments are
  // libvirt's, whatever they look like (a domain may be named --root), so they do not go through commander.
  if (argv[0] === 'hook' && argv[1] === 'run' && (argv[2] === 'qemu' || argv[2] === 'network')) {
    const { hookRunCommand } = await import('./commands/hook.js');
    return hookRunCommand(argv[2], argv.slice(3), { root: env.VFIOCTL_ROOT || '/', json: false }, env, out);
  }
  const program = buildProgram(out, env, (c) => {
    code = c;
  });
  try {
    await program.parseAsync(argv, { from: 'user' });
    return code;
  } catch (err) {
    return reportError(out, err, wantsJson(argv));
  }
}

/** Whether the command line asks for JSON: then a failure is one JSON object on stdout as well as text on stderr. */
function wantsJson(argv: string[]): boolean {
  const end = argv.indexOf('--');
  return (end === -1 ? argv : argv.slice(0, end)).includes('--json');
}

function reportError(out: Output, err: unknown, json: boolean): number {
  const failure = describeFailure(err);
  // Reporting must not fail in turn: a stdout or stderr that cannot be written loses the report, not the exit code.
  const tryWrite = (write: (t: string) => void, text: string): void => {
    try {
      write(text);
    } catch {
      /* the exit code still says it */
    }
  };
  if (json && failure.exitCode !== ExitCode.ok) tryWrite(out.stdout, `${JSON.stringify({ error: failure }, null, 2)}\n`);
  if (err instanceof CommanderError) return failure.exitCode; // commander has printed its message (configureOutput)
  if (err instanceof VfioctlError) {
    tryWrite(out.stderr, `${stderrPalette(out).red('vfioctl:')} ${err.message}\n${err.hint ? `  ${err.hint}\n` : ''}`);
    return err.exitCode;
  }
  tryWrite(out.stderr, `vfioctl: internal error: ${failure.message}\n  This is a bug in vfioctl; please report it with the command you ran.\n`);
  if (process.env.VFIOCTL_DEBUG && err instanceof Error) tryWrite(out.stderr, `${err.stack}\n`);
  return ExitCode.internal;
}

/** The `error` object of `--json` output (README, "JSON output"): exitCode, kind, message, hint, then the error's details. */
export function describeFailure(err: unknown): { exitCode: number; kind: string; message: string; hint: string | null; [detail: string]: unknown } {
  if (err instanceof CommanderError) {
    const exitCode = err.exitCode === 0 ? ExitCode.ok : ExitCode.usage;
    return { exitCode, kind: exitCodeKind(exitCode), message: err.message.replace(/^error: /, ''), hint: 'run vfioctl --help for usage' };
  }
  if (err instanceof VfioctlError) return { exitCode: err.exitCode, kind: exitCodeKind(err.exitCode), message: err.message, hint: err.hint ?? null, ...err.details };
  const message = err instanceof Error ? err.message : String(err);
  return { exitCode: ExitCode.internal, kind: 'internal', message, hint: 'This is a bug in vfioctl; please report it with the command you ran.' };
}

type SetCode = (code: number) => void;

/** --lock-timeout: seconds, a number ≥ 0; anything else is a usage error (exit 2) before anything runs. */
function lockTimeoutOption(): Option {
  return new Option('--lock-timeout <seconds>', 'how long to wait for another vfioctl').default('30').argParser((value: string) => {
    const s = value.trim() === '' ? NaN : Number(value);
    if (!Number.isFinite(s) || s < 0) throw new InvalidArgumentError(`'${value}' is not a number of seconds (0 or more).`);
    return value;
  });
}

function buildProgram(out: Output, env: NodeJS.ProcessEnv, setCode: SetCode): Command {
  const program = new Command('vfioctl')
    .description('Hand whole IOMMU groups to vfio-pci for libvirt device assignment, safely.')
    // Every command's --help lists --root, --color and --no-color, set here so the commands below inherit it.
    .configureHelp({ showGlobalOptions: true })
    .version(`vfioctl ${pkg.version}`, '-V, --version', 'print the version (vfioctl X.Y.Z)')
    .addOption(new Option('--root <dir>', 'host root to work on (a simulated host, a snapshot .json, or /)').default(env.VFIOCTL_ROOT || '/', '$VFIOCTL_ROOT, else /'))
    .addOption(new Option('--color <when>', 'colour: always, never, or auto (each stream that is a terminal; $NO_COLOR, $FORCE_COLOR, TERM=dumb)').choices(COLOR_MODES))
    .option('--no-color', 'plain output (--color=never)')
    .exitOverride()
    .configureOutput({ writeOut: (s) => out.stdout(s), writeErr: (s) => out.stderr(s) })
    .showHelpAfterError('(run vfioctl --help for usage)');

  const w = wiring(out, env, setCode);
  addInspectCommands(program, w);
  addMoveCommands(program, w);
  addFileCommands(program, w);
  addPersistCommands(program, w);
  addHookCommands(program, w);
  addMockCommands(program, w);
  addHelpFooters(program);
  return program;
}

/** What every command's action needs: the output, the environment, where the exit code goes, the global options. */
interface Wiring {
  out: Output;
  env: NodeJS.ProcessEnv;
  setCode: SetCode;
  globals: (cmd: Command) => GlobalOptions;
  onRoot: (cmd: Command, purpose: 'read' | 'write', fn: (g: GlobalOptions) => number | Promise<number>) => Promise<void>;
}

function wiring(out: Output, env: NodeJS.ProcessEnv, setCode: SetCode): Wiring {
  const globals = (cmd: Command): GlobalOptions => {
    const o = cmd.optsWithGlobals<{ root: string; json?: boolean }>();
    return { root: o.root, json: Boolean(o.json) };
  };
  /** Runs a command on its host root; a snapshot .json root is opened read-only for the command's length. */
  const onRoot = async (cmd: Command, purpose: 'read' | 'write', fn: (g: GlobalOptions) => number | Promise<number>): Promise<void> => {
    const g = globals(cmd);
    if (!isSnapshotRoot(g.root)) return setCode(await fn(g));
    const { openHostRoot } = await import('../mock/snapshot-root.js');
    const root = openHostRoot(g.root, purpose);
    try {
      setCode(await fn({ ...g, root: root.root }));
    } finally {
      root.cleanup();
    }
  };
  return { out, env, setCode, globals, onRoot };
}

/** list, group-info, check: read the host, write nothing. */
function addInspectCommands(program: Command, { out, onRoot }: Wiring): void {
  program
    .command('list')
    .description('show every IOMMU group, its devices, drivers and whether it is viable for VFIO')
    .option('--json', 'machine-readable output')
    .action(async (_o, cmd: Command) => {
      const { listCommand } = await import('./commands/list.js');
      await onRoot(cmd, 'read', (g) => listCommand(g, out));
    });

  program
    .command('group-info')
    .argument('<address>', 'PCI address as lspci takes it (0000:01:00.0, 1:0.0; 01:00 for every function of the slot), a virsh nodedev name (pci_0000_01_00_0), or an interface (eno1)')
    .description("show a device's IOMMU group: members, drivers, what the host uses, and the verdict")
    .option('--json', 'machine-readable output')
    .action(async (address: string, _o, cmd: Command) => {
      const { groupInfoCommand } = await import('./commands/group-info.js');
      await onRoot(cmd, 'read', (g) => groupInfoCommand(address, g, out));
    });

  program
    .command('check')
    .argument('<file>', "libvirt domain or network XML ('-': standard input)")
    .description('say what a detach of the XML would do and everything that would stop it; writes nothing')
    .option('--json', 'machine-readable output')
    .action(async (file: string, _o, cmd: Command) => {
      const { checkCommand } = await import('./commands/check.js');
      await onRoot(cmd, 'read', (g) => checkCommand(file, g, out));
    });
}

/** detach, reattach, and status (what they hold). */
function addMoveCommands(program: Command, { out, globals, onRoot }: Wiring): void {
  program
    .command('detach')
    .argument('<file>', "libvirt domain or network XML ('-': standard input)")
    .description("move the XML's PCI devices (whole groups with group='auto') to vfio-pci")
    .option('--dry-run', 'print the exact writes, perform none')
    .option('--force', 'take devices the host needs (boot GPU, NIC with traffic, disk controller)')
    .option('--owner <user[:group]>', 'give the /dev/vfio nodes to this user after the move (QEMU run without libvirt); reattach gives them back')
    .option('--json', 'machine-readable output')
    .addOption(lockTimeoutOption())
    .action(async (file: string, o: { dryRun?: boolean; force?: boolean; owner?: string; lockTimeout: string }, cmd: Command) => {
      const { detachCommand } = await import('./commands/detach.js');
      await onRoot(cmd, o.dryRun ? 'read' : 'write', (g) =>
        detachCommand(file, { ...g, dryRun: Boolean(o.dryRun), force: Boolean(o.force), owner: o.owner, lockTimeout: o.lockTimeout }, out),
      );
    });

  program
    .command('reattach')
    .argument('[file]', "libvirt domain or network XML ('-': standard input)")
    .description('give devices back to their original host drivers')
    .option('--all', 'every device vfioctl moved on this host (completes an interrupted run)')
    .option('--dry-run', 'print the exact writes, perform none')
    .option('--force', 'give back devices persisted on vfio-pci at boot too (until the next boot)')
    .option('--json', 'machine-readable output')
    .addOption(lockTimeoutOption())
    .action(async (file: string | undefined, o: { all?: boolean; dryRun?: boolean; force?: boolean; lockTimeout: string }, cmd: Command) => {
      const { reattachCommand } = await import('./commands/reattach.js');
      await onRoot(cmd, o.dryRun ? 'read' : 'write', (g) =>
        reattachCommand(file, { ...g, all: Boolean(o.all), dryRun: Boolean(o.dryRun), force: Boolean(o.force), lockTimeout: o.lockTimeout }, out),
      );
    });

  program
    .command('status')
    .description('what vfioctl holds now: each device, its prior driver, since when, for which domain; an interrupted run; what is persisted; the hooks')
    .option('--libvirt-dir <dir>', "libvirt's configuration directory, for the hooks (default: /etc/libvirt when --root is /)")
    .option('--json', 'machine-readable output')
    .action(async (o: { libvirtDir?: string }, cmd: Command) => {
      const { statusCommand } = await import('./commands/status.js');
      // The hooks live in the real /etc/libvirt, not under a simulated --root: looked at there only for the real host.
      const libvirtDir = o.libvirtDir ?? (/^\/+$/.test(globals(cmd).root) ? '/etc/libvirt' : null);
      await onRoot(cmd, 'read', (g) => statusCommand({ ...g, libvirtDir }, out));
    });
}

/** metadata (an XML rewritten) and snapshot (the host as a description). */
function addFileCommands(program: Command, { out, setCode, onRoot }: Wiring): void {
  program
    .command('metadata')
    .argument('<file>', "libvirt domain or network XML ('-': standard input)")
    .description("print the XML with its group='…' attributes moved into vfioctl's <metadata> element, which virsh define keeps")
    .action(async (file: string) => {
      const { metadataCommand } = await import('./commands/metadata.js');
      setCode(metadataCommand(file, out));
    });

  program
    .command('snapshot')
    .description("describe this host's PCI/IOMMU topology as JSON (no writes; no MACs, serials or hostnames)")
    .option('-o, --output <file>', 'write to FILE instead of standard output')
    .option('--name <name>', 'the name recorded in the description', 'snapshot')
    .action(async (o: { output?: string; name: string }, cmd: Command) => {
      const { snapshotCommand } = await import('./commands/snapshot.js');
      await onRoot(cmd, 'read', (g) => snapshotCommand({ ...g, output: o.output, name: o.name }, out));
    });
}

/** persist and unpersist: holding devices on vfio-pci from boot. */
function addPersistCommands(program: Command, { out, onRoot }: Wiring): void {
  program
    .command('persist')
    .argument('[file]', "libvirt domain or network XML ('-': standard input)")
    .description("hold the XML's devices (whole groups with group='auto') on vfio-pci from boot: a udev rule, vfio-pci in modules-load.d, a boot check")
    .option('--list', 'what is persisted on this host')
    .option('--verify', 'check that every persisted group is on vfio-pci and viable (what the boot check runs)')
    .option('--dry-run', 'print every file it would write, with its content; write nothing')
    .option('--force', 'persist devices the host needs (boot GPU, NIC with traffic, disk controller)')
    .option('--json', 'machine-readable output')
    .action(async (file: string | undefined, o: { list?: boolean; verify?: boolean; dryRun?: boolean; force?: boolean }, cmd: Command) => {
      const { persistCommand } = await import('./commands/persist.js');
      const writes = file !== undefined && !o.dryRun;
      await onRoot(cmd, writes ? 'write' : 'read', (g) =>
        persistCommand(file, { ...g, list: Boolean(o.list), verify: Boolean(o.verify), force: Boolean(o.force), dryRun: Boolean(o.dryRun) }, out),
      );
    });

  program
    .command('unpersist')
    .argument('[target]', "the XML file that was persisted ('-': standard input), or a PCI address (its group goes with it)")
    .description('stop holding devices on vfio-pci at boot; with nothing left persisted, every file persist wrote goes')
    .option('--all', 'everything persisted on this host')
    .option('--dry-run', 'print what it would write and remove; change nothing')
    .option('--json', 'machine-readable output')
    .action(async (target: string | undefined, o: { all?: boolean; dryRun?: boolean }, cmd: Command) => {
      const { unpersistCommand } = await import('./commands/persist.js');
      await onRoot(cmd, o.dryRun ? 'read' : 'write', (g) => unpersistCommand(target, { ...g, all: Boolean(o.all), dryRun: Boolean(o.dryRun) }, out));
    });
}

/** hook install, uninstall, status, run: libvirt's hooks. */
function addHookCommands(program: Command, { out, env, setCode, globals }: Wiring): void {
  const hook = program.command('hook').description("libvirt's hooks: vfioctl runs at every VM start and stop (see README, With libvirt)");
  const libvirtDir = new Option('--libvirt-dir <dir>', "libvirt's configuration directory").default('/etc/libvirt');
  hook
    .command('install')
    .description('install the qemu and network hooks (hooks/qemu.d/vfioctl, hooks/network.d/vfioctl)')
    .addOption(libvirtDir)
    .option('--legacy', 'for libvirt before 6.5: hooks/qemu and hooks/network, never replacing a script that is not ours')
    .action(async (o: { libvirtDir: string; legacy?: boolean }) => {
      const { hookInstallCommand } = await import('./commands/hook.js');
      setCode(hookInstallCommand({ libvirtDir: o.libvirtDir, legacy: Boolean(o.legacy) }, out));
    });
  hook
    .command('uninstall')
    .description("remove vfioctl's hooks (only vfioctl's)")
    .addOption(libvirtDir)
    .action(async (o: { libvirtDir: string }) => {
      const { hookUninstallCommand } = await import('./commands/hook.js');
      setCode(hookUninstallCommand(o, out));
    });
  hook
    .command('status')
    .description("which hooks are installed, where, what they run, and whether that still exists")
    .addOption(libvirtDir)
    .option('--json', 'machine-readable output')
    .action(async (o: { libvirtDir: string }, cmd: Command) => {
      const { hookStatusCommand } = await import('./commands/hook.js');
      setCode(hookStatusCommand({ ...globals(cmd), libvirtDir: o.libvirtDir }, out));
    });
  hook
    .command('run')
    .description('what libvirt runs: OBJECT OPERATION SUBOPERATION EXTRA, the XML on stdin')
    .addArgument(new Argument('<driver>', 'the hook').choices(['qemu', 'network']))
    .argument('[args...]', "libvirt's arguments")
    .allowUnknownOption()
    .action(async (driver: 'qemu' | 'network', args: string[], _o, cmd: Command) => {
      const { hookRunCommand } = await import('./commands/hook.js');
      setCode(hookRunCommand(driver, args, globals(cmd), env, out));
    });
}

/** mock list and create (simulated hosts), and completion. */
function addMockCommands(program: Command, { out, setCode, globals }: Wiring): void {
  const mock = program.command('mock').description('simulated hosts: list the bundled ones, create one to work on');
  mock
    .command('list')
    .description('list the bundled simulated hosts')
    .option('--json', 'machine-readable output')
    .action(async (_o, cmd: Command) => {
      const { mockListCommand } = await import('./commands/mock.js');
      setCode(mockListCommand(globals(cmd), out));
    });
  mock
    .command('create')
    .argument('<host>', 'a bundled host name (see `vfioctl mock list`) or a host description .json')
    .argument('<dir>', 'an empty or new directory')
    .description('materialize a simulated host: a tree with the kernel layout and a simulated kernel')
    .action(async (host: string, dir: string, _o, cmd: Command) => {
      const { mockCreateCommand } = await import('./commands/mock.js');
      setCode(mockCreateCommand(host, dir, globals(cmd), out));
    });
  program
    .command('completion')
    .addArgument(new Argument('<shell>', 'the shell').choices(['bash', 'zsh']))
    .description('print the shell completion script for bash or zsh (commands, options, bundled hosts, PCI addresses)')
    .action(async (shell: 'bash' | 'zsh') => {
      const { completionCommand } = await import('./completion.js');
      setCode(completionCommand(shell, program, out));
    });
}
