// Builds the single-file bundle that bin/vfioctl runs (dist/vfioctl.cjs), its code cache and the man page
// (dist/vfioctl.8). Called by `npm run build`, by `prepack` (so `npm pack` ships a fresh bundle), and by
// `npm test`, `npm run demo`, bench and test:vm when dist/ is missing. Not by `prepare`: a user who installs
// the package runs nothing of ours at install time.
//
// Start-up is most of what an admin waits for (issue 7, bench/results.md), so:
// - CommonJS, not ESM: Node's ESM loader costs more per start than require() (bench/results.md, History).
// - Commands, the XML stack and the simulated kernel are behind import() in src/cli/program.ts; in one CJS file
//   esbuild turns those into lazily initialized modules, so group-info never runs the XML code.
// - commander's start-up require of child_process is deferred to first use (lazy-child-process.cjs).
import { spawnSync } from 'node:child_process';
import { build } from 'esbuild';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { writeManPage } from './man.mjs';

const lazyChildProcess = {
  name: 'lazy-child-process',
  setup(b) {
    b.onResolve({ filter: /^(node:)?child_process$/ }, (args) =>
      args.importer.includes(`${path.sep}node_modules${path.sep}commander${path.sep}`) ? { path: path.resolve('scripts/lazy-child-process.cjs') } : undefined,
    );
  },
};

fs.rmSync('dist', { recursive: true, force: true });
await build({
  entryPoints: ['src/cli/main.ts'],
  outfile: 'dist/vfioctl.cjs',
  bundle: true,
  platform: 'node',
  target: 'node20',
  format: 'cjs',
  minify: !process.env.NO_MINIFY, // NO_MINIFY=1 npm run build: readable names in a profile (perf, --cpu-prof)
  sourcemap: 'linked',
  legalComments: 'none',
  // src/mock/hosts.ts finds mock-sysfs/ from its own location.
  define: { 'import.meta.url': '__vfioctl_url' },
  banner: { js: "const __vfioctl_url = require('node:url').pathToFileURL(__filename).href;" },
  plugins: [lazyChildProcess],
  logLevel: 'warning',
});

// The man page, vfioctl(8), from its one source docs/vfioctl.8.md (package.json's "man" ships it).
writeManPage('dist/vfioctl.8');

// V8's code cache for the bundle (read by bin/vfioctl): made from a group-info run on a scratch simulated
// host, so the functions a typical command runs are in it. Optional: without it vfioctl only starts slower.
const scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'vfioctl-build-'));
try {
  const env = { ...process.env, VFIOCTL_PCI_IDS: '', NO_COLOR: '1' };
  const bin = path.resolve('bin/vfioctl');
  const made = spawnSync(process.execPath, [bin, 'mock', 'create', 'workstation', path.join(scratch, 'host')], { env, encoding: 'utf8' });
  const warm = spawnSync(process.execPath, [bin, 'group-info', '01:00.0', '--root', path.join(scratch, 'host')], { env: { ...env, VFIOCTL_CODE_CACHE_OUT: path.resolve('dist/vfioctl.cjs.cache') }, encoding: 'utf8' });
  if (made.status !== 0 || warm.status !== 0) process.stderr.write(`build: no code cache (the warm-up run failed: ${made.stderr}${warm.stderr})\n`);
} finally {
  fs.rmSync(scratch, { recursive: true, force: true });
}
