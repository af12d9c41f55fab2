#!/usr/bin/env node
// Thin launcher. The bundled CLI (dist/bundle, built by `npm run build`) starts fastest; the plain
// tsc output (dist/cli) is the fallback while developing.
import { existsSync } from 'node:fs';

const bundle = new URL('../dist/bundle/main.js', import.meta.url);
const entry = existsSync(bundle) ? bundle : new URL('../dist/cli/main.js', import.meta.url);
import(entry.href).then((m) => m.main(process.argv.slice(2)));
