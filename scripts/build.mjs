// Builds the single-file bundle that bin/vfioctl runs. Called by `npm run build` and by `prepare`,
// so a fresh clone works after `npm ci` alone.
import { build } from 'esbuild';

await build({
  entryPoints: ['src/cli/main.ts'],
  outfile: 'dist/vfioctl.mjs',
  bundle: true,
  platform: 'node',
  target: 'node20',
  format: 'esm',
  // Lazy imports (the XML stack, the simulated kernel) become separate chunks would need splitting;
  // a single file keeps start-up to one read, and esbuild keeps dynamic import() bodies unevaluated.
  sourcemap: 'linked',
  legalComments: 'none',
  banner: { js: "import { createRequire as __vfioctlCreateRequire } from 'node:module'; const require = __vfioctlCreateRequire(import.meta.url);" },
  logLevel: 'warning',
});
