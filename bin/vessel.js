#!/usr/bin/env node
// Thin launcher. The bundled CLI (dist/bundle/cli.cjs, built by `npm run build`) is compiled with
// its V8 code cache (scripts/bundle.mjs says why); the plain tsc output (dist/cli) is the
// fallback while developing.
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import vm from 'node:vm';

const args = process.argv.slice(2);
const bundle = new URL('../dist/bundle/cli.cjs', import.meta.url).pathname;

if (existsSync(bundle)) {
  // One cache per command: what V8 compiled for `run` is not what it compiled for `images`. The
  // first use of a command writes its own (cheap, once); the build writes the one for --help.
  const verb = args.find((a) => !a.startsWith('-')) ?? '';
  const cacheFile = `${bundle}.${/^[a-z_]{1,20}$/.test(verb) ? verb : 'main'}.cache`;
  let cachedData;
  try {
    cachedData = readFileSync(cacheFile);
  } catch {
    /* none yet */
  }
  // CommonJS's own wrapper: require, module and __filename as Node gives them to any module.
  const source = `(function (exports, require, module, __filename, __dirname) {${readFileSync(bundle, 'utf8')}\n})`;
  const script = new vm.Script(source, {
    filename: bundle,
    cachedData,
    // `import()` inside the bundle (ESM-only dependencies) goes to Node's own loader.
    importModuleDynamically: vm.constants.USE_MAIN_CONTEXT_DEFAULT_LOADER,
  });
  // The bundle's dynamic imports of ESM-only packages (scripts/bundle.mjs says why they come here).
  globalThis.__vesselImport = (specifier) => import(specifier);
  const mod = { exports: {} };
  script.runInThisContext().call(mod.exports, mod.exports, createRequire(bundle), mod, bundle, new URL('../dist/bundle', import.meta.url).pathname);
  // Written after the command ran, so it holds the functions the command compiled; made again
  // when V8 refuses it (another node, another bundle).
  if (process.env.VESSEL_WRITE_CODE_CACHE === '1' || cachedData === undefined || script.cachedDataRejected) {
    process.once('exit', () => {
      try {
        writeFileSync(cacheFile, script.createCachedData());
      } catch {
        /* a read-only installation, or not root: start without it */
      }
    });
  }
  mod.exports.main(args);
} else {
  import(new URL('../dist/cli/main.js', import.meta.url).href).then((m) => m.main(args));
}
