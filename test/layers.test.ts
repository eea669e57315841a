import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';

/**
 * The layers of src/, enforced: a module imports only from its own layer or a lower one, and no two
 * folders import each other, even through others. From the top:
 *
 *   cli → render, run, libvirt, persist, status → plan → host, kernel, xml, mock → pci → errors, util
 *
 * src/mock/kernel/ (the simulated kernel) counts as part of mock/: it belongs with the simulated host and
 * implements kernel/kernel.ts's interface, so mock/ may import kernel/, never the other way. openKernel,
 * which picks the Linux or the simulated kernel, lives one layer up in src/run/open-kernel.ts. A capability
 * folder (src/libvirt/: the hook; src/persist/: persistence at boot) sits beside run/ and render/ and uses run/'s seams; render/ may show its
 * reports, so it must not import render/ back (the no-cycle rule).
 * eslint.config.js enforces the other boundaries (node:fs, chalk, nothing imports the CLI).
 */
const LAYERS: readonly (readonly string[])[] = [['errors', 'util'], ['pci'], ['host', 'kernel', 'xml', 'mock'], ['plan'], ['render', 'run', 'libvirt', 'persist', 'status'], ['cli']];

const SRC = path.resolve(__dirname, '..', 'src');

/** The folder a module of src/ belongs to: its first directory, or `errors` for src/errors.ts. */
function folderOf(file: string): string {
  const rel = path.relative(SRC, file).split(path.sep);
  return rel.length === 1 ? rel[0]!.replace(/\.ts$/, '') : rel[0]!;
}

function layerOf(folder: string): number {
  return LAYERS.findIndex((l) => l.includes(folder));
}

/** Every module specifier of static imports and re-exports, and of import() with a literal. */
function importsOf(text: string): string[] {
  const out: string[] = [];
  for (const m of text.matchAll(/^\s*(?:import|export)\b[^'";]*?\bfrom\s*['"]([^'"]+)['"]/gm)) out.push(m[1]!);
  for (const m of text.matchAll(/^\s*import\s*['"]([^'"]+)['"]/gm)) out.push(m[1]!);
  for (const m of text.matchAll(/\bimport\(\s*['"]([^'"]+)['"]\s*\)/g)) out.push(m[1]!);
  return out;
}

interface Edge {
  file: string;
  spec: string;
  from: string;
  to: string;
}

/** The imports between folders of src/, from a map of absolute file name to source text. */
function folderEdges(sources: Map<string, string>): Edge[] {
  const edges: Edge[] = [];
  for (const [file, text] of sources) {
    for (const spec of importsOf(text)) {
      if (!spec.startsWith('.')) continue; // packages and node: builtins
      const target = path.resolve(path.dirname(file), spec);
      if (!target.startsWith(SRC + path.sep)) continue;
      const [from, to] = [folderOf(file), folderOf(target)];
      if (from !== to) edges.push({ file: path.relative(SRC, file), spec, from, to });
    }
  }
  return edges;
}

/** Messages for imports that go up a layer, and for folders outside the layer table. */
function wrongWayImports(sources: Map<string, string>): string[] {
  const problems: string[] = [];
  for (const file of sources.keys()) {
    const folder = folderOf(file);
    if (layerOf(folder) < 0) problems.push(`src/${folder}/ is in no layer: add it to LAYERS in test/layers.test.ts`);
  }
  for (const e of folderEdges(sources)) {
    if (layerOf(e.to) > layerOf(e.from)) problems.push(`src/${e.file} imports '${e.spec}': ${e.from}/ may not import ${e.to}/, a higher layer`);
  }
  return [...new Set(problems)];
}

/**
 * Each cycle between folders of one layer once, as steps `a → b` with one import that makes each. (A cycle
 * through two layers has an import that goes up, which wrongWayImports reports by itself.)
 */
function folderCycles(sources: Map<string, string>): string[] {
  const edges = folderEdges(sources).filter((e) => layerOf(e.from) === layerOf(e.to));
  const next = new Map<string, Map<string, Edge>>();
  for (const e of edges) {
    const m = next.get(e.from) ?? new Map<string, Edge>();
    if (!m.has(e.to)) m.set(e.to, e);
    next.set(e.from, m);
  }
  const cycles = new Map<string, string>();
  const walk = (start: string, at: string, trail: Edge[]): void => {
    for (const [to, e] of next.get(at) ?? []) {
      if (to === start) {
        const loop = [...trail, e];
        const key = loop.map((x) => x.from).sort().join(',');
        const text = loop.map((x) => `${x.from} → ${x.to} (src/${x.file} imports '${x.spec}')`).join('; ');
        if (!cycles.has(key)) cycles.set(key, text);
      } else if (!trail.some((x) => x.from === to) && to > start) {
        walk(start, to, [...trail, e]); // folders after start only: each cycle is found from its least folder
      }
    }
  };
  for (const folder of [...next.keys()].sort()) walk(folder, folder, []);
  return [...cycles.values()];
}

function readSources(dir: string, out = new Map<string, string>()): Map<string, string> {
  for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, entry.name);
    if (entry.isDirectory()) readSources(p, out);
    else if (entry.name.endsWith('.ts')) out.set(p, fs.readFileSync(p, 'utf8'));
  }
  return out;
}

const at = (rel: string): string => path.join(SRC, rel);

describe('one-way layers: cli → render, run, libvirt, persist, status → plan → host, kernel, xml, mock → pci → errors, util', () => {
  const sources = readSources(SRC);

  it('every folder of src/ is in the layer table', () => {
    expect(sources.size).toBeGreaterThan(50);
    expect(wrongWayImports(sources).filter((p) => p.includes('is in no layer'))).toEqual([]);
  });

  it('no module imports from a higher layer', () => {
    expect(wrongWayImports(sources)).toEqual([]);
  });

  it('no two folders import each other, directly or through others', () => {
    expect(folderCycles(sources)).toEqual([]);
  });
});

describe('the checker itself', () => {
  it('reads static imports, type imports, re-exports over several lines and import()', () => {
    const text = "import fs from 'node:fs';\nimport type { A } from '../a.js';\nexport {\n  b,\n} from './b.js';\nconst c = await import('../c/c.js');\nimport './side.js';\n";
    expect(importsOf(text).sort()).toEqual(['../a.js', '../c/c.js', './b.js', './side.js', 'node:fs']);
  });

  it('names the file and the import that goes up a layer', () => {
    const bad = new Map([
      [at('pci/device.ts'), "import type { DriverName } from '../host/layout.js';\n"],
      [at('host/layout.ts'), "import { PciAddress } from '../pci/address.js';\n"],
    ]);
    expect(wrongWayImports(bad)).toEqual(["src/pci/device.ts imports '../host/layout.js': pci/ may not import host/, a higher layer"]);
  });

  it('allows imports within a layer and down, and finds a cycle between folders of one layer', () => {
    const ok = new Map([
      [at('mock/kernel/simulated.ts'), "import type { Kernel } from '../../kernel/kernel.js';\nimport { VfioUnavailableError } from '../../errors.js';\n"],
      [at('run/open-kernel.ts'), "import { SimulatedKernel } from '../mock/kernel/simulated.js';\n"],
    ]);
    expect(wrongWayImports(ok)).toEqual([]);
    expect(folderCycles(ok)).toEqual([]);
    ok.set(at('kernel/index.ts'), "import { SimulatedKernel } from '../mock/kernel/simulated.js';\n");
    expect(folderCycles(ok)).toEqual([
      "kernel → mock (src/kernel/index.ts imports '../mock/kernel/simulated.js'); mock → kernel (src/mock/kernel/simulated.ts imports '../../kernel/kernel.js')",
    ]);
  });

  it('flags a folder that is in no layer', () => {
    expect(wrongWayImports(new Map([[at('sysfs/x.ts'), '']]))).toEqual(['src/sysfs/ is in no layer: add it to LAYERS in test/layers.test.ts']);
  });
});
