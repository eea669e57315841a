import { afterAll, describe, expect, it } from 'vitest';
import { runBin } from '../helpers/cli.js';
import { makeSimulatedHost } from '../helpers/sim-host.js';

/** The subcommands a help text lists under "Commands:" (without commander's own `help`). */
function subcommands(help: string): string[] {
  const section = help.split('\nCommands:\n')[1];
  if (!section) return [];
  return [...section.matchAll(/^ {2}([a-z][a-z-]*)/gm)].map((m) => m[1]!).filter((name) => name !== 'help');
}

/** Every command path, found as a user would: from `vfioctl --help` down. */
function allCommands(): string[][] {
  const found: string[][] = [];
  const walk = (path: string[]): void => {
    const r = runBin([...path, '--help']);
    expect(r.code, `vfioctl ${path.join(' ')} --help`).toBe(0);
    for (const name of subcommands(r.stdout)) {
      found.push([...path, name]);
      walk([...path, name]);
    }
  };
  walk([]);
  return found;
}

describe('--help of every command', () => {
  const commands = allCommands();

  it('finds the commands the README documents, down to the hook and mock subcommands', () => {
    const names = commands.map((c) => c.join(' '));
    for (const c of ['list', 'group-info', 'check', 'detach', 'reattach', 'metadata', 'snapshot', 'hook install', 'hook uninstall', 'hook status', 'hook run', 'mock list', 'mock create', 'completion']) {
      expect(names).toContain(c);
    }
  });

  it('shows the global options, $VFIOCTL_ROOT, examples of that command, and where the exit codes are', () => {
    for (const path of [[], ...commands]) {
      const r = runBin([...path, '--help']);
      const what = `vfioctl ${path.join(' ')} --help`;
      expect(r.code, what).toBe(0);
      const flat = r.stdout.replace(/\s+/g, ' ');
      expect(flat, what).toMatch(/ --root <dir> host root to work on [^-]*\(default: \$VFIOCTL_ROOT, else \/\)/);
      expect(flat, what).toContain(' --no-color plain output');
      const examples = r.stdout.split('\nExamples:\n')[1]?.split('\n\n')[0] ?? '';
      const lines = examples.split('\n').filter(Boolean);
      expect(lines.length, `${what}: examples`).toBeGreaterThan(0);
      for (const line of lines) expect(line, what).toMatch(new RegExp(`^ {2}\\$ .*vfioctl ${path.join(' ')}`));
      expect(r.stdout, what).toContain('the table is in README.md\n("Exit codes") and in the man page (man 8 vfioctl, EXIT STATUS)');
    }
  });
});

describe('VFIOCTL_PCI_IDS', () => {
  const h = makeSimulatedHost('workstation');
  afterAll(() => h.cleanup());

  it('naming a file that does not exist is exit 4 with a sentence, not a silent list without names', () => {
    const r = runBin(['group-info', '01:00.0', '--root', h.root], { VFIOCTL_PCI_IDS: '/nonexistent/pci.ids' });
    expect(r.code).toBe(4);
    expect(r.stdout).toBe('');
    expect(r.stderr).toContain("VFIOCTL_PCI_IDS names '/nonexistent/pci.ids', which does not exist.");
    expect(r.stderr).toContain("VFIOCTL_PCI_IDS=''");
  });

  it('naming a directory is exit 3 (invalid input), naming it empty shows IDs without names (exit 0)', () => {
    expect(runBin(['list', '--root', h.root], { VFIOCTL_PCI_IDS: h.root }).code).toBe(3);
    const r = runBin(['group-info', '01:00.0', '--json', '--root', h.root], { VFIOCTL_PCI_IDS: '' });
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout).devices[1].vendorName).toBeNull();
  });
});
