// Shared helpers for vessel's benchmarks: time whole commands, print medians and ratios.
// Benchmarks measure; they never assert (these machines are shared and noisy).
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export function timeOnce(argv, opts = {}) {
  const t0 = process.hrtime.bigint();
  const r = spawnSync(argv[0], argv.slice(1), { stdio: opts.stdio ?? 'ignore', env: opts.env ?? process.env, input: opts.input });
  const ms = Number(process.hrtime.bigint() - t0) / 1e6;
  if (r.status !== 0 && !opts.allowFailure) throw new Error(`${argv.join(' ')} exited ${r.status}: ${r.stderr ?? ''}`);
  return ms;
}

export function median(xs) {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

/** Run each candidate `runs` times, interleaved so background noise hits all alike. */
export function compare(candidates, runs, warmup = 2) {
  const times = new Map(candidates.map((c) => [c.name, []]));
  for (let i = 0; i < warmup; i++) for (const c of candidates) c.run();
  for (let i = 0; i < runs; i++) {
    for (const c of candidates) times.get(c.name).push(c.run());
  }
  return candidates.map((c) => ({ name: c.name, median: median(times.get(c.name)), min: Math.min(...times.get(c.name)) }));
}

export function printTable(title, rows, baseline) {
  const base = rows.find((r) => r.name === baseline)?.median;
  console.log(`\n## ${title}`);
  const w = Math.max(...rows.map((r) => r.name.length));
  for (const r of rows) {
    const ratio = base ? `  ×${(r.median / base).toFixed(2)} of ${baseline}` : '';
    console.log(`${r.name.padEnd(w)}  median ${r.median.toFixed(1).padStart(7)} ms  min ${r.min.toFixed(1).padStart(7)} ms${ratio}`);
  }
}

export function tmpRoot(tag) {
  return mkdtempSync(`/tmp/vessel-bench-${tag}-`);
}

export function have(cmd) {
  return spawnSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' }).status === 0;
}

/**
 * A private VESSEL_ROOT with busybox:latest imported, plus the same rootfs flattened for the raw
 * floor (unshare --root) and the tarball for peers (podman import).
 */
export function busyboxWorld(tag) {
  const repo = join(dirname(fileURLToPath(import.meta.url)), '..');
  const bin = join(repo, 'bin', 'vessel.js');
  const root = tmpRoot(tag);
  const env = { ...process.env, VESSEL_ROOT: root, VESSEL_LOG_LEVEL: 'warn' };
  const tarball = join(root, 'busybox.tar.gz');
  execFileSync('sh', [join(repo, 'test/fixtures/build-busybox.sh'), tarball]);
  execFileSync(process.execPath, [bin, 'image', 'import', tarball, 'busybox:latest'], { env, stdio: 'ignore' });
  const rootfs = join(root, 'flat-rootfs');
  mkdirSync(rootfs);
  execFileSync('tar', ['-C', rootfs, '-xzf', tarball]);
  return { repo, bin, root, env, tarball, rootfs };
}

/**
 * BENCH_BEFORE=/path/to/other/bin/vessel.js: another build of vessel (say, the last release) with
 * its own root beside WORLD's and the same busybox imported, for before/after rows in one run.
 * Undefined when not asked for; `gc()` removes what it left.
 */
export function beforeWorld(world) {
  const bin = process.env.BENCH_BEFORE;
  if (!bin) return undefined;
  const root = join(world.root, 'before');
  mkdirSync(root);
  const env = { ...world.env, VESSEL_ROOT: root };
  execFileSync(process.execPath, [bin, 'image', 'import', world.tarball, 'busybox:latest'], { env, stdio: 'ignore' });
  return { bin, root, env, gc: () => spawnSync(process.execPath, [bin, 'gc'], { env, stdio: 'ignore' }) };
}

/**
 * The `vessel` command as users run it with a warm `vessel up` (the native front end, build/vessel,
 * handing run/stop/rm to vessel up: docs/supervision.md): `vessel up` started on WORLD's root with
 * an empty vassals directory. `stop()` ends it (its Emperor has no vassals to stop).
 */
export async function warmWorld(world) {
  const vassals = join(world.root, 'vassals');
  mkdirSync(vassals, { recursive: true });
  const up = spawn(process.execPath, [world.bin, 'up', '--vassals', vassals], { env: world.env, stdio: 'ignore' });
  const sock = join(world.root, 'run', 'vessel.sock');
  const deadline = Date.now() + 20_000;
  while (!existsSync(sock)) {
    if (Date.now() > deadline || up.exitCode !== null) throw new Error('vessel up did not start');
    await new Promise((r) => setTimeout(r, 50));
  }
  const front = join(world.repo, 'build', 'vessel');
  return {
    front,
    stop: () =>
      new Promise((resolve) => {
        if (up.exitCode !== null) return resolve();
        up.once('exit', () => resolve());
        up.kill('SIGTERM');
      }),
  };
}
