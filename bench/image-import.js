// Image import/export throughput against GNU tar --zstd (the floor), in the same run, and peak
// RSS of the vessel process at two image sizes (it should not grow with the image).
// Needs root (device nodes in the busybox base), zstd, GNU tar, /usr/bin/time, a built dist/.
import { spawnSync } from 'node:child_process';
import { copyFileSync, lstatSync, mkdirSync, readdirSync, rmSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { median, tmpRoot } from './lib.js';

const repo = join(dirname(fileURLToPath(import.meta.url)), '..');
const vessel = join(repo, 'bin/vessel.js');
const RUNS = Number(process.env.BENCH_RUNS ?? 3);
const SIZES_MB = (process.env.BENCH_SIZES ?? '50,200').split(',').map(Number);
const SOURCE = process.env.BENCH_SOURCE ?? '/usr/lib/x86_64-linux-gnu';

/** Run argv under /usr/bin/time: wall ms and the peak RSS (MiB) of the command's own process. */
function measure(argv, env = process.env) {
  const t0 = process.hrtime.bigint();
  const r = spawnSync('/usr/bin/time', ['-f', '%M', ...argv], { env, encoding: 'utf8' });
  const ms = Number(process.hrtime.bigint() - t0) / 1e6;
  if (r.status !== 0) throw new Error(`${argv.join(' ')} exited ${r.status}: ${r.stderr}`);
  const kb = Number(r.stderr.trim().split('\n').pop());
  return { ms, rssMiB: kb / 1024 };
}

/** A root filesystem of about `mb` MB: the busybox fixture plus real files from SOURCE. */
function makeRootfs(dir, mb) {
  const busybox = join(dir, 'busybox.tar');
  spawnSync('sh', [join(repo, 'test/fixtures/build-busybox.sh'), busybox], { stdio: 'inherit' });
  const tree = join(dir, 'tree');
  mkdirSync(join(tree, 'usr/lib/data'), { recursive: true });
  spawnSync('tar', ['-xf', busybox, '-C', tree]);
  let total = 0;
  const walk = (p) => {
    for (const n of readdirSync(p).sort()) {
      if (total >= mb * 1e6) return;
      const f = join(p, n);
      const st = lstatSync(f);
      if (st.isDirectory()) walk(f);
      else if (st.isFile() && st.size < 50e6) {
        const target = join(tree, 'usr/lib/data', f.slice(SOURCE.length).replaceAll('/', '_'));
        copyFileSync(f, target);
        total += st.size;
      }
    }
  };
  walk(SOURCE);
  const archive = join(dir, 'rootfs.tar.zst');
  spawnSync('tar', ['--zstd', '-cf', archive, '--numeric-owner', '-C', tree, '.'], { stdio: 'inherit' });
  const raw = Number(spawnSync('sh', ['-c', `zstd -dc '${archive}' | wc -c`], { encoding: 'utf8' }).stdout.trim());
  return { tree, archive, raw };
}

const rows = [];
for (const mb of SIZES_MB) {
  const dir = tmpRoot(`image-${mb}`);
  try {
    const { tree, archive, raw } = makeRootfs(dir, mb);
    const results = { 'tar --zstd -x': [], 'vessel image import': [], 'tar --zstd -c': [], 'vessel image export --format tar': [], 'vessel image export --format oci': [] };
    const rss = { import: [], exportTar: [], exportOci: [] };
    for (let i = 0; i < RUNS; i++) {
      const out = join(dir, `x${i}`);
      mkdirSync(out);
      results['tar --zstd -x'].push(measure(['tar', '--zstd', '-xf', archive, '-C', out, '--numeric-owner']).ms);
      rmSync(out, { recursive: true, force: true });

      const root = join(dir, `root${i}`);
      const env = { ...process.env, VESSEL_ROOT: root };
      const imp = measure(['node', vessel, 'image', 'import', archive, `bench:${i}`], env);
      results['vessel image import'].push(imp.ms);
      rss.import.push(imp.rssMiB);

      results['tar --zstd -c'].push(measure(['tar', '--zstd', '-cf', join(dir, 'floor.tar.zst'), '--numeric-owner', '-C', tree, '.']).ms);
      const expTar = measure(['node', vessel, 'image', 'export', `bench:${i}`, join(dir, 'export.tar.zst'), '--format', 'tar'], env);
      results['vessel image export --format tar'].push(expTar.ms);
      rss.exportTar.push(expTar.rssMiB);
      const expOci = measure(['node', vessel, 'image', 'export', `bench:${i}`, join(dir, 'export.oci.tar'), '--format', 'oci'], env);
      results['vessel image export --format oci'].push(expOci.ms);
      rss.exportOci.push(expOci.rssMiB);
      rmSync(root, { recursive: true, force: true });
    }
    const m = Object.fromEntries(Object.entries(results).map(([k, v]) => [k, median(v)]));
    console.log(`\n## rootfs of ${(raw / 1e6).toFixed(0)} MB uncompressed (${(statSync(archive).size / 1e6).toFixed(0)} MB .tar.zst), median of ${RUNS}`);
    const line = (name, ms, floor) => {
      const mbps = raw / 1e6 / (ms / 1000);
      const ratio = floor ? `  ${(m[floor] / ms).toFixed(2)}× the throughput of ${floor}` : '';
      console.log(`${name.padEnd(34)} ${ms.toFixed(0).padStart(6)} ms  ${mbps.toFixed(0).padStart(5)} MB/s${ratio}`);
    };
    line('tar --zstd -x', m['tar --zstd -x']);
    line('vessel image import', m['vessel image import'], 'tar --zstd -x');
    line('tar --zstd -c', m['tar --zstd -c']);
    line('vessel image export --format tar', m['vessel image export --format tar'], 'tar --zstd -c');
    line('vessel image export --format oci', m['vessel image export --format oci'], 'tar --zstd -c');
    console.log(`peak RSS of the vessel process: import ${median(rss.import).toFixed(0)} MiB, export tar ${median(rss.exportTar).toFixed(0)} MiB, export oci ${median(rss.exportOci).toFixed(0)} MiB`);
    rows.push({ raw, rss: median(rss.import) });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
if (rows.length > 1) {
  const [a, b] = [rows[0], rows[rows.length - 1]];
  console.log(`\nimport peak RSS: ${a.rss.toFixed(0)} MiB at ${(a.raw / 1e6).toFixed(0)} MB, ${b.rss.toFixed(0)} MiB at ${(b.raw / 1e6).toFixed(0)} MB (image ×${(b.raw / a.raw).toFixed(1)}, RSS ×${(b.rss / a.rss).toFixed(2)})`);
}
