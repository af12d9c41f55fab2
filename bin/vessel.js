#!/usr/bin/env node
// Thin launcher. The bundled CLI (dist/bundle, built by `npm run build`) starts fastest; the plain
// tsc output (dist/cli) is the fallback while developing.
import { existsSync } from 'node:fs';

const args = process.argv.slice(2);
// `vessel vassal` (what the Emperor's wrapper execs for every container start) goes straight to
// its own light entry, which runs on import: commander and the other commands are never loaded.
const light = args[0] === 'vassal' && !args.includes('--help') && !args.includes('-h');
const pick = (bundle, tsc) => {
  const b = new URL(`../dist/bundle/${bundle}`, import.meta.url);
  return existsSync(b) ? b : new URL(`../dist/${tsc}`, import.meta.url);
};
if (light) import(pick('vassal-main.js', 'emperor/vassal-main.js').href);
else import(pick('main.js', 'cli/main.js').href).then((m) => m.main(args));
