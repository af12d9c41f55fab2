// `vessel run --rm IMAGE true` against the floor (raw unshare into the same root), Node's own
// start-up, and peers (podman, crun) in the same run. Goals (issue 14): median ≤ 0.5 × podman's,
// and ≤ node -e 0 + 60 ms. Two vessel rows: the `vessel` command with a warm `vessel up` (the
// native front end hands the run to it and becomes the container's monitor), and the Node CLI
// alone (no vessel up). BENCH_BEFORE adds another build's row (before/after from one run).
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeWorld, busyboxWorld, compare, have, printTable, timeOnce, warmWorld } from './lib.js';

const runs = Number(process.env.BENCH_RUNS ?? 20);
const world = busyboxWorld('start');
const { bin, root, env, tarball, rootfs } = world;

const candidates = [
  { name: 'node -e 0', run: () => timeOnce([process.execPath, '-e', '0']) },
  { name: 'unshare (floor)', run: () => timeOnce(['unshare', '--pid', '--fork', '--mount', '--uts', '--ipc', '--net', `--root=${rootfs}`, '--mount-proc', '/bin/true']) },
  { name: 'vessel run --rm (node CLI)', run: () => timeOnce([process.execPath, bin, 'run', '--rm', 'busybox', 'true'], { env }) },
];
const cleanups = [];
const warm = await warmWorld(world);
candidates.push({ name: 'vessel run --rm', run: () => timeOnce([warm.front, 'run', '--rm', 'busybox', 'true'], { env }) });
const before = beforeWorld(world);
if (before) {
  candidates.push({ name: 'vessel run --rm (before)', run: () => timeOnce([process.execPath, before.bin, 'run', '--rm', 'busybox', 'true'], { env: before.env }) });
  cleanups.push(before.gc);
}
if (have('podman')) {
  try {
    execFileSync('podman', ['import', tarball, 'localhost/vessel-bench-busybox:latest'], { stdio: 'ignore' });
    // crun (podman's default) refuses cgroup v1 hybrid hosts like these; runc works on both.
    // The explicit ulimits avoid podman's default RLIMIT_NOFILE, above this sandbox's hard limit.
    const runtime = process.env.BENCH_PODMAN_RUNTIME ?? (have('runc') ? 'runc' : 'crun');
    candidates.push({ name: 'podman run --rm', run: () => timeOnce(['podman', '--runtime', runtime, 'run', '--rm', '--network', 'none', '--ulimit', 'nofile=1024:1024', '--ulimit', 'nproc=4096:4096', 'localhost/vessel-bench-busybox:latest', '/bin/true']) });
    cleanups.push(() => execFileSync('podman', ['rmi', '-f', 'localhost/vessel-bench-busybox:latest'], { stdio: 'ignore' }));
  } catch (e) {
    console.log(`podman: not measured (${e.message.split('\n')[0]})`);
  }
} else console.log('podman: not installed, not measured');
if (have('crun')) {
  const bundle = join(root, 'crun-bundle');
  mkdirSync(bundle);
  execFileSync('crun', ['spec'], { cwd: bundle });
  const spec = JSON.parse(execFileSync('cat', [join(bundle, 'config.json')], { encoding: 'utf8' }));
  spec.root = { path: rootfs, readonly: true };
  spec.process.terminal = false;
  spec.process.args = ['/bin/true'];
  writeFileSync(join(bundle, 'config.json'), JSON.stringify(spec));
  let n = 0;
  delete spec.linux.resources; // no cgroup limits: crun cannot use cgroup v1 hybrid hosts
  writeFileSync(join(bundle, 'config.json'), JSON.stringify(spec));
  const probe = spawnSync('crun', ['--cgroup-manager=disabled', 'run', '--bundle', bundle, `vessel-bench-probe-${process.pid}`], { stdio: 'pipe' });
  if (probe.status === 0) candidates.push({ name: 'crun run', run: () => timeOnce(['crun', '--cgroup-manager=disabled', 'run', '--bundle', bundle, `vessel-bench-${process.pid}-${n++}`]) });
  else console.log(`crun: not measured here (${String(probe.stderr).trim().split('\n')[0]})`);
} else console.log('crun: not installed, not measured');

try {
  const rows = compare(candidates, runs);
  printTable(`container start+exit, ${runs} runs each (interleaved)`, rows, 'vessel run --rm');
  const get = (n) => rows.find((r) => r.name === n)?.median;
  const v = get('vessel run --rm');
  const n = get('vessel run --rm (node CLI)');
  console.log(`\nvessel − node -e 0 = ${(v - get('node -e 0')).toFixed(1)} ms (goal ≤ 60 ms); node CLI alone: ${(n - get('node -e 0')).toFixed(1)} ms`);
  if (get('podman run --rm')) console.log(`vessel / podman = ${(v / get('podman run --rm')).toFixed(2)} (goal ≤ 0.5); node CLI alone: ${(n / get('podman run --rm')).toFixed(2)}`);
  console.log(`vessel / unshare floor = ${(v / get('unshare (floor)')).toFixed(2)}`);
} finally {
  for (const c of cleanups) c();
  await warm.stop();
  rmSync(root, { recursive: true, force: true });
}
