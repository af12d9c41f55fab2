// Bundles the CLI for start-up speed into ONE CommonJS file, dist/bundle/cli.cjs, which
// bin/vessel.js compiles with a V8 code cache per command (dist/bundle/cli.cjs.VERB.cache: the
// first use of each command writes its own; the one of --help is made here). Node 20 has
// no compile cache of its own (module.enableCompileCache is Node 22's) and caches nothing for
// ES modules; measured on `vessel run --rm IMAGE true`: ~20 ms less than ESM chunks, whose
// loader resolves, reads and compiles a dozen files on every start. Heavy optional dependencies
// stay external: `import()` of them is kept as is and loads them only when a command needs them.
import { build } from 'esbuild';
import { spawnSync } from 'node:child_process';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';

const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8'));
// commander and ini are on every start path: inlined, they come with the code cache instead of
// module resolutions on every start. The rest load only in the commands that use them, through
// import() or createRequire() inside a function (esbuild cannot see into the latter): tar-stream
// (~10 ms, measured) in those that rewrite a tar stream (image/retar.ts), the AWS SDK and ssh2 in
// pulls and publishes over s3:// and sftp:// (registry/open.ts). Inlining one of them would make
// its initialisation part of every start, `vessel run` included: a static import runs at load.
const inline = new Set(['commander', 'ini']);
const external = Object.keys(pkg.dependencies ?? {}).filter((d) => !inline.has(d)).flatMap((d) => [d, `${d}/*`]);

rmSync('dist/bundle', { recursive: true, force: true });
await build({
  entryPoints: ['src/cli/main.ts'],
  bundle: true,
  format: 'cjs',
  platform: 'node',
  target: 'node20',
  // same depth as dist/cli/main.js: paths derived from import.meta.url (the package directory) hold
  outfile: 'dist/bundle/cli.cjs',
  external,
  sourcemap: true,
  logLevel: 'warning',
  define: { 'import.meta.url': '__vesselModuleUrl' },
  banner: { js: "const __vesselModuleUrl = require('node:url').pathToFileURL(__filename).href;" },
});

// `import()` in a script compiled from a V8 code cache loses its loader callback in Node 20
// (ERR_VM_DYNAMIC_IMPORT_CALLBACK_MISSING once the function comes from the cache): the kept
// dynamic imports of external packages go through bin/vessel.js's own `import()` instead.
const out = 'dist/bundle/cli.cjs';
const text = readFileSync(out, 'utf8');
let n = 0;
writeFileSync(out, text.replace(/(?<![\w$.])import\((?=["'])/g, () => (n++, '__vesselImport(')));
if (n === 0) throw new Error('bundle: no dynamic import found to route; the bundle changed shape');

// The code cache of --help (every command's definition): the first one, made here.
const warm = spawnSync(process.execPath, [new URL('../bin/vessel.js', import.meta.url).pathname, '--help'], {
  env: { ...process.env, VESSEL_WRITE_CODE_CACHE: '1' },
  stdio: 'ignore',
});
if (warm.status !== 0) {
  console.error(`bundle: the code cache run failed (exit ${warm.status}); vessel starts without it`);
}
