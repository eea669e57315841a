import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ExitCode } from '../../src/errors.js';
import { REPO, runCli } from '../helpers/cli.js';

const PAGE = path.join(REPO, 'dist', 'vfioctl.8'); // built by `npm run build` from docs/vfioctl.8.md
const source = fs.readFileSync(path.join(REPO, 'docs', 'vfioctl.8.md'), 'utf8');
const version = (JSON.parse(fs.readFileSync(path.join(REPO, 'package.json'), 'utf8')) as { version: string }).version;

/** The text of one "## NAME" section of a Markdown file. */
function section(markdown: string, heading: string): string {
  const body = markdown.split(`\n## ${heading}\n`)[1];
  if (body === undefined) throw new Error(`no section ${heading}`);
  return body.split('\n## ')[0]!;
}

/** The rows of a two-column table: [code, meaning]. */
function exitRows(table: string): [number, string][] {
  return [...table.matchAll(/^\| (\d+) \| (.*) \|$/gm)].map((m) => [Number(m[1]), m[2]!]);
}

/** Every command path and its options, from the CLI's own --help, in-process. */
async function commandsAndOptions(): Promise<{ path: string; options: string[]; leaf: boolean }[]> {
  const found: { path: string; options: string[]; leaf: boolean }[] = [];
  const walk = async (cmdPath: string[]): Promise<void> => {
    const help = (await runCli([...cmdPath, '--help'])).stdout;
    const own = help.split('\nOptions:\n')[1]?.split('\n\n')[0] ?? '';
    const commands = help.split('\nCommands:\n')[1]?.split('\n\n')[0] ?? '';
    found.push({ path: cmdPath.join(' '), options: [...own.matchAll(/^ {2}(?:-\w, )?(--[a-z-]+)/gm)].map((m) => m[1]!), leaf: commands === '' });
    for (const m of commands.matchAll(/^ {2}([a-z][a-z-]*)/gm)) if (m[1] !== 'help') await walk([...cmdPath, m[1]!]);
  };
  await walk([]);
  return found;
}

describe('the man page vfioctl(8)', () => {
  it('renders with groff -ww without a single warning, with every section a man page has', () => {
    const r = spawnSync('groff', ['-ww', '-man', '-Tutf8', '-P', '-c', PAGE], { encoding: 'utf8', env: { ...process.env, LC_ALL: 'C.UTF-8' } });
    expect(r.error).toBeUndefined();
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    const text = r.stdout.replace(/.\x08/g, '');
    for (const h of ['NAME', 'SYNOPSIS', 'DESCRIPTION', 'OPTIONS', 'COMMANDS', 'EXIT STATUS', 'ENVIRONMENT', 'FILES', 'EXAMPLES']) {
      expect(text).toMatch(new RegExp(`^${h}$`, 'm'));
    }
    expect(text).toMatch(/^VFIOCTL\(8\) +System Administration +VFIOCTL\(8\)$/m);
    expect(text).toContain(`vfioctl ${version}`);
    expect(text).toMatch(/^ +vfioctl +- +hand +whole +IOMMU +groups +to +vfio-pci/m);
    expect(text).toContain('root/run/vfioctl/journal.json');
    expect(text).toContain('vfioctl hook install [--libvirt-dir dir] [--legacy]');
  });

  it('renders with man --warnings as `man ./vfioctl.8` would, without a warning', () => {
    const r = spawnSync('man', ['--warnings', '-E', 'UTF-8', '-l', PAGE], { encoding: 'utf8', env: { ...process.env, MANPAGER: 'cat', PAGER: 'cat', MANWIDTH: '80' } });
    expect(r.error).toBeUndefined();
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    expect(r.stdout).toContain('EXIT STATUS');
  });

  it('has the exit-code table of README.md and src/errors.ts, row for row', () => {
    const readme = fs.readFileSync(path.join(REPO, 'README.md'), 'utf8');
    const page = exitRows(section(source, 'EXIT STATUS'));
    expect(page).toEqual(exitRows(section(readme, 'Exit codes')));
    expect(page.map(([code]) => code)).toEqual(Object.values(ExitCode));
  });

  it('documents every command and every option the CLI has', async () => {
    const commands = section(source, 'COMMANDS') + section(source, 'OPTIONS');
    for (const { path: cmd, options, leaf } of await commandsAndOptions()) {
      if (cmd && leaf) expect(commands, cmd).toMatch(new RegExp(`^\`vfioctl ${cmd}\``, 'm'));
      for (const o of options) expect(commands, `${cmd} ${o}`).toContain(`\`${o}\``);
    }
  });

  it('documents every environment variable src/ and bin/ read', () => {
    const files = [path.join(REPO, 'bin', 'vfioctl'), ...fs.readdirSync(path.join(REPO, 'src'), { recursive: true, encoding: 'utf8' }).filter((f) => f.endsWith('.ts')).map((f) => path.join(REPO, 'src', f))];
    const read = new Set<string>();
    for (const f of files) {
      for (const m of fs.readFileSync(f, 'utf8').matchAll(/\benv\.([A-Z][A-Z0-9_]*)|\benv\[['"]([A-Z][A-Z0-9_]*)['"]\]/g)) read.add((m[1] ?? m[2])!);
    }
    expect([...read]).toEqual(expect.arrayContaining(['VFIOCTL_ROOT', 'VFIOCTL_PCI_IDS', 'NO_COLOR']));
    const documented = [...section(source, 'ENVIRONMENT').matchAll(/^`([A-Z][A-Z0-9_]*)`$/gm)].map((m) => m[1]!);
    expect(documented.sort()).toEqual([...read].sort());
  });
});
