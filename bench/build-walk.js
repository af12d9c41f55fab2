// A FreeBSD RUN step lists its whole root twice (build/root-walk.ts: names and lstat of every
// entry) and compares the listings (build/root-diff.ts). This measures one listing of a tree
// against the floor, find(1) printing the same facts (inode, ctime) in one pass, and the
// comparison of two listings, in the same run; and the peak RSS of a process holding two
// listings. Needs a built dist/.
//
//   node bench/build-walk.js            the tree /usr (BENCH_TREE=DIR), 5 runs (BENCH_RUNS)
import { spawnSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { compare, printTable } from './lib.js';

const repo = join(dirname(fileURLToPath(import.meta.url)), '..');
const TREE = process.env.BENCH_TREE ?? '/usr';
const RUNS = Number(process.env.BENCH_RUNS ?? 5);

// One child per measurement, so each starts cold in the same way and its RSS is its own.
const script = (what) => `
  const { walkRoot } = await import(${JSON.stringify(join(repo, 'dist/build/root-walk.js'))});
  const { diffRoots } = await import(${JSON.stringify(join(repo, 'dist/build/root-diff.js'))});
  const a = await walkRoot(${JSON.stringify(TREE)}, new Set(['dev']));
  const t0 = performance.now();
  ${what === 'diff' ? `const b = await walkRoot(${JSON.stringify(TREE)}, new Set(['dev'])); const t1 = performance.now(); diffRoots(a, b); console.log(performance.now() - t1, a.size);` : 'console.log(0, a.size);'}
`;

function node(what) {
  const t0 = process.hrtime.bigint();
  const r = spawnSync('/usr/bin/time', ['-f', '%M', process.execPath, '--input-type=module', '-e', script(what)], { encoding: 'utf8' });
  const ms = Number(process.hrtime.bigint() - t0) / 1e6;
  if (r.status !== 0) throw new Error(`walk: ${r.stderr}`);
  const [diffMs, entries] = r.stdout.trim().split(' ').map(Number);
  return { ms, diffMs, entries, rssMiB: Number(r.stderr.trim().split('\n').pop()) / 1024 };
}

let entries = 0;
let rss = 0;
const diffs = [];
const rows = compare([
  { name: 'find -printf %i %C@ (floor)', run: () => {
    const t0 = process.hrtime.bigint();
    spawnSync('find', [TREE, '-xdev', '-printf', '%i %C@ %m %U %G\n'], { stdio: 'ignore' });
    return Number(process.hrtime.bigint() - t0) / 1e6;
  } },
  { name: 'vessel: node + one listing', run: () => {
    const r = node('walk');
    entries = r.entries;
    return r.ms;
  } },
  { name: 'vessel: node + two listings + diff', run: () => {
    const r = node('diff');
    rss = Math.max(rss, r.rssMiB);
    diffs.push(r.diffMs);
    return r.ms;
  } },
], RUNS, 1);
printTable(`listing ${TREE} (${entries} entries)`, rows, 'find -printf %i %C@ (floor)');
const sorted = [...diffs].sort((a, b) => a - b);
console.log(`diff of two listings: median ${sorted[Math.floor(sorted.length / 2)].toFixed(1)} ms; peak RSS with two listings ${rss.toFixed(0)} MiB`);
