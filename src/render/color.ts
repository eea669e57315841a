import { colorPalette, PLAIN, type Palette } from './output.js';
import { isTerminal } from './terminal.js';

/** `--color=always|never|auto` (`--no-color` is never). */
export type ColorMode = 'always' | 'never' | 'auto';
export const COLOR_MODES: readonly ColorMode[] = ['always', 'never', 'auto'];

/**
 * The --color mode the command line asks for, read before commander parses it (the palettes are needed to
 * build the program): the last of `--color=WHEN`, `--color WHEN` and `--no-color` wins. An unknown WHEN is
 * auto here; commander then refuses it (exit 2).
 */
export function colorModeOf(argv: string[]): ColorMode {
  let mode: ColorMode = 'auto';
  const end = argv.indexOf('--');
  const args = end === -1 ? argv : argv.slice(0, end);
  args.forEach((a, i) => {
    const when = a.startsWith('--color=') ? a.slice('--color='.length) : a === '--color' ? args[i + 1] : a === '--no-color' ? 'never' : undefined;
    if (when !== undefined) mode = (COLOR_MODES as readonly string[]).includes(when) ? (when as ColorMode) : 'auto';
  });
  return mode;
}

/**
 * The palette for one stream (1 stdout, 2 stderr), decided for that stream alone: `never` plain, `always`
 * coloured; `auto` as chalk decides (its supports-color: FORCE_COLOR, FORCE_COLOR=0, TERM=dumb, whether the
 * stream is a terminal), and plain when NO_COLOR is set. A stream that is no terminal, without FORCE_COLOR,
 * is plain without loading chalk (chalk says the same): most runs are scripts and pipes.
 */
export async function streamPalette(fd: 1 | 2, mode: ColorMode, env: NodeJS.ProcessEnv): Promise<Palette> {
  if (mode === 'never') return PLAIN;
  // Without FORCE_COLOR, chalk says plain for a stream that is no terminal and for TERM=dumb: said here first.
  const plainUnlessForced = env.FORCE_COLOR === undefined && (env.TERM === 'dumb' || !isTerminal(fd));
  if (mode === 'auto' && (env.NO_COLOR || plainUnlessForced)) return PLAIN;
  const { supportsColor, supportsColorStderr } = await import('chalk');
  const detected = (fd === 1 ? supportsColor : supportsColorStderr) || { level: 0 };
  const level = mode === 'always' ? Math.max(1, detected.level) : detected.level;
  return level === 0 ? PLAIN : colorPalette(level as 1 | 2 | 3);
}
