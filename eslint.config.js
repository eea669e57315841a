// Layering is enforced here, not remembered (style.md): node:fs only in the host/kernel/run/mock layers,
// chalk only in the renderer (src/render/terminal.ts alone writes to stdout), and nothing imports the CLI.
import tseslint from 'typescript-eslint';

const fsOnlyIn = ['src/host/**', 'src/kernel/**', 'src/run/**', 'src/mock/**', 'src/libvirt/**', 'src/pci/ids.ts', 'src/xml/read-file.ts'];

export default tseslint.config(
  { ignores: ['dist/**', 'node_modules/**', 'test/vm/.work/**', 'coverage/**'] },
  ...tseslint.configs.recommended,
  {
    files: ['src/**/*.ts'],
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_' }],
      'no-restricted-imports': [
        'error',
        {
          paths: [
            { name: 'chalk', message: 'Colour belongs to src/render only.' },
            { name: 'node:fs', message: 'Only the host, kernel, run and mock layers touch the filesystem.' },
            { name: 'fs', message: 'Only the host, kernel, run and mock layers touch the filesystem.' },
          ],
          patterns: [{ group: ['**/cli/*', '**/cli/**'], message: 'Nothing imports the CLI layer.' }],
        },
      ],
    },
  },
  {
    files: fsOnlyIn,
    rules: {
      'no-restricted-imports': ['error', { paths: [{ name: 'chalk', message: 'Colour belongs to src/render only.' }] }],
    },
  },
  {
    files: ['src/render/**'],
    rules: { 'no-restricted-imports': ['error', { paths: [{ name: 'node:fs', message: 'Renderers do not touch the filesystem.' }] }] },
  },
  {
    files: ['src/cli/**'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          paths: [
            { name: 'chalk', message: 'Colour belongs to src/render only.' },
            { name: 'node:fs', message: 'Command handlers call the core; they do not touch the filesystem.' },
          ],
        },
      ],
    },
  },
  {
    // The one module that writes to the process's stdout and stderr (plain write(2)s, see its comment).
    files: ['src/render/terminal.ts'],
    rules: { 'no-restricted-imports': 'off' },
  },
  {
    files: ['test/**/*.ts', 'bench/**', 'scripts/**', 'test/**/*.mjs'],
    rules: { '@typescript-eslint/no-non-null-assertion': 'off', '@typescript-eslint/no-explicit-any': 'off' },
  },
);
