// Shared helpers for vessel's benchmarks: time whole commands, print medians and ratios.
// Benchmarks measure; they never assert (these machines are shared and noisy).
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
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
 * A warm `vessel up` on ENV's VESSEL_ROOT (an empty vassals directory; its Emperor has nothing to
 * stop), for measuring `vessel` as users run it then: the native front end (build/vessel), which
 * hands run/stop/rm/pull/image import to it (docs/supervision.md). Whatever the served command
 * costs in memory is vessel up's: `peakRss(fn)` runs fn and gives vessel up's peak RSS meanwhile
 * (MiB, /proc VmHWM reset first through clear_refs) and its RSS before, so the command's own share
 * is the difference.
 */
export async function warmUp(env, repo = join(dirname(fileURLToPath(import.meta.url)), '..')) {
  const root = env.VESSEL_ROOT;
  const vassals = join(root, 'vassals');
  mkdirSync(vassals, { recursive: true });
  const up = spawn(process.execPath, [join(repo, 'bin', 'vessel.js'), 'up', '--vassals', vassals], { env, stdio: 'ignore' });
  // A bench that fails half-way must not leave it (and its Emperor) running: seen after a failed
  // round of image-import.js.
  process.once('exit', () => {
    if (up.exitCode === null) up.kill('SIGTERM');
  });
  const sock = join(root, 'run', 'vessel.sock');
  const deadline = Date.now() + 20_000;
  while (!existsSync(sock)) {
    if (Date.now() > deadline || up.exitCode !== null) throw new Error('vessel up did not start');
    await new Promise((r) => setTimeout(r, 50));
  }
  const kib = (field) => Number(new RegExp(`^${field}:\\s+(\\d+)`, 'm').exec(readFileSync(`/proc/${up.pid}/status`, 'utf8'))[1]);
  return {
    front: join(repo, 'build', 'vessel'),
    pid: up.pid,
    peakRss(fn) {
      writeFileSync(`/proc/${up.pid}/clear_refs`, '5');
      const restMiB = kib('VmRSS') / 1024;
      const r = fn();
      return { ...r, upPeakMiB: kib('VmHWM') / 1024, upRestMiB: restMiB };
    },
    stop: () =>
      new Promise((resolve) => {
        if (up.exitCode !== null) return resolve();
        up.once('exit', () => resolve());
        up.kill('SIGTERM');
      }),
  };
}

/** warmUp on a busyboxWorld's root. */
export async function warmWorld(world) {
  return warmUp(world.env);
}
