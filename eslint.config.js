// Layering is enforced here, not remembered (docs/architecture.md): node:fs only in the host/kernel/run/mock layers,
// chalk only in the renderer (src/render/terminal.ts alone writes to stdout), and nothing imports the CLI.
// test/layers.test.ts enforces the order of the layers themselves.
//
// In flat config a later block's options for a rule replace the earlier ones for the files it matches (they
// are not merged), so every block below states the whole rule for its files through restrict().
import tseslint from 'typescript-eslint';

const fsOnlyIn = ['src/host/**', 'src/kernel/**', 'src/run/**', 'src/mock/**', 'src/libvirt/**', 'src/persist/**', 'src/pci/ids.ts', 'src/xml/read-file.ts'];

const noChalk = { name: 'chalk', message: 'Colour belongs to src/render only.' };
const noFs = (message) => [
  { name: 'node:fs', message },
  { name: 'fs', message },
];
const noCli = { group: ['**/cli/*', '**/cli/**'], message: 'Nothing imports the CLI layer.' };
const restrict = (paths, patterns = [noCli]) => ({ 'no-restricted-imports': ['error', { paths, patterns }] });

export default tseslint.config(
  { ignores: ['dist/**', 'node_modules/**', 'test/vm/.work/**', 'coverage/**'] },
  ...tseslint.configs.recommended,
  {
    files: ['src/**/*.ts'],
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_' }],
      ...restrict([noChalk, ...noFs('Only the host, kernel, run and mock layers touch the filesystem.')]),
    },
  },
  { files: fsOnlyIn, rules: restrict([noChalk]) },
  { files: ['src/render/**'], rules: restrict(noFs('Renderers do not touch the filesystem.')) },
  // The CLI's own modules import each other; the rule for them is about chalk and the filesystem.
  { files: ['src/cli/**'], rules: restrict([noChalk, ...noFs('Command handlers call the core; they do not touch the filesystem.')], []) },
  // The one module that writes to the process's stdout and stderr (plain write(2)s, see its comment).
  { files: ['src/render/terminal.ts'], rules: restrict([]) },
  {
    files: ['test/**/*.ts', 'bench/**', 'scripts/**', 'test/**/*.mjs'],
    rules: { '@typescript-eslint/no-non-null-assertion': 'off', '@typescript-eslint/no-explicit-any': 'off' },
  },
);
