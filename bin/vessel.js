#!/usr/bin/env node
// Thin launcher: the compiled CLI lives in dist/. Kept tiny so `vessel` starts fast.
import('../dist/cli/main.js').then((m) => m.main(process.argv.slice(2)));
