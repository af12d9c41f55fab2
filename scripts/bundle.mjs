// Bundles the CLI for start-up speed: one ESM entry plus a chunk per command, so `vessel run`
// reads a handful of files instead of ~60 modules and commander's CommonJS. Heavy optional
// dependencies stay external and load from node_modules only when a command needs them.
import { build } from 'esbuild';
import { readFileSync } from 'node:fs';

const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8'));
const inline = new Set(['commander', 'ini']);
const external = Object.keys(pkg.dependencies ?? {}).filter((d) => !inline.has(d)).flatMap((d) => [d, `${d}/*`]);

await build({
  entryPoints: ['src/cli/main.ts'],
  bundle: true,
  splitting: true,
  format: 'esm',
  platform: 'node',
  target: 'node20',
  outdir: 'dist/bundle',
  chunkNames: '[name]-[hash]', // same depth as dist/cli: paths derived from import.meta.url hold
  external,
  sourcemap: true,
  logLevel: 'warning',
  // commander is CommonJS and requires node builtins: give the ESM bundle a real require()
  banner: { js: "import { createRequire as __vesselCreateRequire } from 'node:module'; const require = __vesselCreateRequire(import.meta.url);" },
});
