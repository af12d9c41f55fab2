import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { describe, expect, it } from 'vitest';

/**
 * The import rules of src/, checked on every import (static, re-export and dynamic `import()`):
 *
 * 1. Direction. A folder imports only the folders its row of LAYERS names (DESIGN.md §2's table,
 *    with the amendments documented in docs/architecture.md "Imports"). Some edges are allowed for
 *    types only (`import type` / `export type`): the vocabulary of the spec (Limits, PortPublish …)
 *    is what a runtime driver or a network backend is handed, but they never run spec code.
 * 2. Public surface. An import that leaves its folder names the target folder's `index.ts`, or the
 *    `index.ts` of one of its per-OS subfolders (`runtime/linux`, `net/freebsd`, `cluster/nomad` …),
 *    never a file inside it. Inside its own folder a file imports what it likes.
 * 3. Every folder of src/ has a row: a new folder is a design decision, made in the table first.
 */

type Edge = 'value' | 'type';
/** DESIGN.md §2, "imports point downward only", as amended in docs/architecture.md. */
const LAYERS: Record<string, Record<string, Edge>> = {
  cli: {
    emperor: 'value', cluster: 'value', supervise: 'value', build: 'value', registry: 'value', image: 'value',
    net: 'value', runtime: 'value', spec: 'value', util: 'value', doctor: 'value', selftest: 'value',
    volume: 'value', compose: 'value', service: 'value',
  },
  doctor: { runtime: 'value', net: 'value', image: 'value', spec: 'value', util: 'value' },
  // Amended: the network cases lease their address through net/, as a start does.
  selftest: { doctor: 'value', supervise: 'value', runtime: 'value', net: 'value', image: 'value', spec: 'value', util: 'value' },
  // Amended: emperor/ serves the monitors' requests through service/'s socket (its types only).
  emperor: { supervise: 'value', spec: 'value', util: 'value', service: 'value' },
  service: { util: 'value' },
  cluster: { spec: 'value', util: 'value' },
  // Amended: a start mounts named volumes, creating a missing one (docker's "created on first use").
  supervise: { runtime: 'value', net: 'value', image: 'value', spec: 'value', util: 'value', volume: 'value' },
  // Amended: a RUN step is a container run, so build starts it through supervise (one start path,
  // not a second one) and reads the spec's defaults and its "did you mean" helper.
  build: { supervise: 'value', runtime: 'value', image: 'value', spec: 'value', util: 'value' },
  registry: { image: 'value', util: 'value' },
  image: { util: 'value' },
  // Amended: a network's host objects inside a container's namespace or jail (epair, veth ends)
  // are the runtime's; net asks the runtime module that created them to find and remove them.
  net: { runtime: 'value', spec: 'value', util: 'value' },
  runtime: { spec: 'type', util: 'value' },
  spec: { util: 'value' },
  // Named volumes: a store of their own beside image/ and net/; which container mounts which is
  // handed in by the caller (VolumeUsers), as for images.
  volume: { spec: 'value', util: 'value' },
  // docker compose files → specs: a translator onto the spec's vocabulary; running them is the CLI's.
  compose: { spec: 'value', util: 'value' },
  util: {},
};

const SRC = resolve(__dirname, '..', '..', 'src');

interface Import {
  file: string; // relative to src/
  line: number;
  target: string; // relative to src/, as written (.js)
  typeOnly: boolean;
}

function walk(dir: string): string[] {
  return readdirSync(dir).flatMap((f) => {
    const p = join(dir, f);
    return statSync(p).isDirectory() ? walk(p) : p.endsWith('.ts') ? [p] : [];
  });
}

// `import … from '…'`, `export … from '…'` (including `import type` and multi-line specifier
// lists), `import('…')` and side-effect imports (`import '…'`). Comments are not stripped: a
// commented-out import is still flagged, which is the safer mistake.
const IMPORT_RE = /\b(import|export)(\s+type)?\s[^'";]*?from\s+['"]([^'"]+)['"]|\bimport\(\s*['"]([^'"]+)['"]\s*\)|\bimport\s+['"]([^'"]+)['"]/g;

/** The relative imports of one file's text; `path` is where the file lives (absolute). */
function importsOfText(path: string, text: string): Import[] {
  const out: Import[] = [];
  for (const m of text.matchAll(IMPORT_RE)) {
    const spec = m[3] ?? m[4] ?? m[5];
    if (spec === undefined || !spec.startsWith('.')) continue;
    out.push({
      file: relative(SRC, path),
      line: text.slice(0, m.index).split('\n').length,
      target: relative(SRC, resolve(dirname(path), spec)),
      typeOnly: m[2] !== undefined,
    });
  }
  return out;
}

const importsOf = (path: string): Import[] => importsOfText(path, readFileSync(path, 'utf8'));

const folderOf = (p: string): string => p.split(sep)[0]!;
const ALL = walk(SRC).flatMap(importsOf);
const where = (i: Import) => `${i.file}:${i.line} -> ${i.target}`;

/** Imports against the direction of the table (or a value import where only types may pass). */
function wrongWay(imports: Import[]): string[] {
  return imports.filter((i) => {
    const from = folderOf(i.file);
    const to = folderOf(i.target);
    if (from === to) return false;
    const edge = LAYERS[from]?.[to];
    return edge === undefined || (edge === 'type' && !i.typeOnly);
  }).map(where);
}

/** Imports that leave their folder other than through the target's index.ts (or a per-OS subfolder's). */
function pastTheIndex(imports: Import[]): string[] {
  const publicSurface = (target: string) => {
    const parts = target.split(sep);
    return (parts.length === 2 && parts[1] === 'index.js') || (parts.length === 3 && parts[2] === 'index.js');
  };
  return imports.filter((i) => folderOf(i.file) !== folderOf(i.target) && !publicSurface(i.target)).map(where);
}

describe('architecture: the imports of src/ follow DESIGN.md §2', () => {
  it('finds the imports it checks (the scanner itself works)', () => {
    expect(ALL.length).toBeGreaterThan(300);
    expect(ALL.some((i) => i.file === join('cli', 'main.ts'))).toBe(true);
  });

  it('every folder of src/ has a row in the table', () => {
    const folders = readdirSync(SRC).filter((f) => statSync(join(SRC, f)).isDirectory());
    expect(folders.filter((f) => !(f in LAYERS))).toEqual([]);
  });

  it('imports point only where the table allows', () => {
    expect(wrongWay(ALL)).toEqual([]);
  });

  it('an import that leaves its folder names that folder\'s index.ts', () => {
    expect(pastTheIndex(ALL)).toEqual([]);
  });

  it('the checks fail on a wrong-way import, in every import form (they are not vacuous)', () => {
    const file = join(SRC, 'image', 'example.ts');
    const text = [
      "import { readState } from '../supervise/index.js';",
      "import '../net/index.js';",
      "export { x } from '../runtime/index.js';",
      "const m = await import('../build/index.js');",
      "import type { Limits } from '../spec/index.js';",
      "import { hostOs } from '../util/os.js';",
      "import { ok } from '../util/index.js';",
    ].join('\n');
    const found = importsOfText(file, text);
    expect(found).toHaveLength(7);
    expect(wrongWay(found)).toEqual([
      'image/example.ts:1 -> supervise/index.js',
      'image/example.ts:2 -> net/index.js',
      'image/example.ts:3 -> runtime/index.js',
      'image/example.ts:4 -> build/index.js',
      'image/example.ts:5 -> spec/index.js',
    ]);
    expect(pastTheIndex(found)).toEqual(['image/example.ts:6 -> util/os.js']);
    // a types-only edge passes only as `import type`
    const runtime = join(SRC, 'runtime', 'example.ts');
    expect(wrongWay(importsOfText(runtime, "import type { Limits } from '../spec/index.js';"))).toEqual([]);
    expect(wrongWay(importsOfText(runtime, "import { parseSize } from '../spec/index.js';"))).toEqual(['runtime/example.ts:1 -> spec/index.js']);
  });
});
