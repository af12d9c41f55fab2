// Scale under the Emperor: 50 specs dropped at once → all 50 containers running, and the memory
// of their supervision, against 50 × `podman run -d` (8 at a time) and podman's conmon processes,
// in the same run. Goals (issue 14): ≤ 0.25 × podman's time; ≤ 60 MiB of supervision in all.
// Measures, never asserts (shared, noisy machines).
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { closeSync, mkdirSync, openSync, readFileSync, readdirSync, renameSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { beforeWorld, busyboxWorld, have } from './lib.js';

const N = Number(process.env.BENCH_SCALE ?? 50);
if (process.getuid() !== 0) {
  console.log('bench/scale.js needs root; skipped');
  process.exit(0);
}
const world = busyboxWorld('scale');
const { bin, root, env, tarball } = world;

const pssKiB = (pid) => {
  try {
    return Number(/^Pss:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8'))?.[1] ?? 0);
  } catch {
    return 0;
  }
};
const cmdline = (pid) => { try { return readFileSync(`/proc/${pid}/cmdline`, 'utf8').replace(/\0/g, ' '); } catch { return ''; } };
const procs = () => readdirSync('/proc').filter((d) => /^\d+$/.test(d)).map(Number);
const stats = (sock) => new Promise((res) => {
  const s = connect(sock);
  let b = '';
  s.on('data', (d) => (b += d));
  s.on('end', () => { try { res(JSON.parse(b)); } catch { res(undefined); } });
  s.on('error', () => res(undefined));
});
async function until(what, fn, timeoutMs = 120_000, every = 20) {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out: ${what}`);
    await sleep(every);
  }
}
const mib = (kib) => (kib / 1024).toFixed(1);

/** The container's supervision: its init and every process between it and its supervisor of record. */
const ppid = (pid) => { try { return Number(/\) \S+ (\d+)/.exec(readFileSync(`/proc/${pid}/stat`, 'utf8'))[1]); } catch { return 0; } };
function supervisionKiB(s) {
  let kib = 0;
  for (let p = s.pid; p > 1; p = ppid(p)) {
    kib += pssKiB(p);
    if (p === s.supervisorPid) break;
  }
  return kib;
}

const rows = [];
// --- vessel under its Emperor (and BENCH_BEFORE=/other/bin/vessel.js: another build, first) ---
async function vesselUp(label, cli, venv) {
  const vassalsDir = join(venv.VESSEL_ROOT, 'vassals');
  const stagingDir = join(venv.VESSEL_ROOT, 'staging');
  mkdirSync(vassalsDir, { recursive: true });
  mkdirSync(stagingDir, { recursive: true });
  const st = (n) => { try { return JSON.parse(readFileSync(join(venv.VESSEL_ROOT, 'containers', n, 'state.json'), 'utf8')); } catch { return undefined; } };
  const logFd = openSync(join(venv.VESSEL_ROOT, 'up.log'), 'w');
  const up = spawn(process.execPath, [cli, 'up', '--vassals', vassalsDir], { env: venv, stdio: ['ignore', logFd, logFd] });
  closeSync(logFd);
  try {
    await until('the Emperor', () => stats(join(venv.VESSEL_ROOT, 'run', 'emperor.stats')), 30_000, 100);
    const names = Array.from({ length: N }, (_, i) => `sc-${String(i).padStart(2, '0')}`);
    for (const n of names) writeFileSync(join(stagingDir, `${n}.ini`), '[container]\nimage = busybox:latest\ncommand = sleep 100000\n');
    const t0 = performance.now();
    for (const n of names) renameSync(join(stagingDir, `${n}.ini`), join(vassalsDir, `${n}.ini`));
    await until(`${N} running`, () => names.every((n) => { const s = st(n); return s?.status === 'running' && s.pid; }));
    const ms = performance.now() - t0;
    await sleep(2000);
    let sup = 0;
    for (const n of names) sup += supervisionKiB(st(n));
    const upKiB = pssKiB(up.pid) + procs().filter((p) => cmdline(p).startsWith('uwsgi') || cmdline(p).includes('setpriv')).reduce((a, p) => a + pssKiB(p), 0);
    rows.push({ name: label, ms, supervisionKiB: sup, extra: `${mib(sup / N)} MiB per container; vessel up + uWSGI Emperor ${mib(upKiB)} MiB for all` });
    for (const n of names) renameSync(join(vassalsDir, `${n}.ini`), join(stagingDir, `${n}.ini`));
    await until('all stopped', () => names.every((n) => !readdirSync(join(venv.VESSEL_ROOT, 'containers')).includes(n)), 120_000, 100);
  } finally {
    up.kill('SIGTERM');
    await new Promise((res) => up.once('exit', res));
  }
}
const before = beforeWorld(world);
if (before) {
  await vesselUp(`vessel up (before), ${N} at once`, before.bin, before.env);
  before.gc();
}
await vesselUp(`vessel up, ${N} specs dropped at once`, bin, env);

// --- podman, 8 at a time -----------------------------------------------------------------
if (have('podman')) {
  try {
    execFileSync('podman', ['import', tarball, 'localhost/vessel-bench-busybox:latest'], { stdio: 'ignore' });
    const names = Array.from({ length: N }, (_, i) => `vessel-bench-sc-${process.pid}-${i}`);
    const runOne = (n) => new Promise((res, rej) => {
      const c = spawn('podman', ['run', '-d', '--name', n, '--runtime', 'runc', '--network', 'none', '--ulimit', 'nofile=1024:1024', '--ulimit', 'nproc=4096:4096',
        'localhost/vessel-bench-busybox:latest', '/bin/sleep', '100000'], { stdio: 'ignore' });
      c.on('exit', (code) => (code === 0 ? res() : rej(new Error(`podman run ${n} exited ${code}`))));
    });
    const t0 = performance.now();
    const queue = [...names];
    await Promise.all(Array.from({ length: 8 }, async () => { while (queue.length) await runOne(queue.shift()); }));
    const ms = performance.now() - t0;
    await sleep(2000);
    const conmons = procs().filter((p) => cmdline(p).startsWith('/usr/bin/conmon') && names.some((n) => cmdline(p).includes(n)));
    const conmonKiB = conmons.reduce((a, p) => a + pssKiB(p), 0);
    rows.push({ name: `podman run -d × ${N}, 8 at a time`, ms, supervisionKiB: conmonKiB, extra: `${conmons.length} conmon processes` });
    spawnSync('podman', ['rm', '-f', '-t', '0', ...names], { stdio: 'ignore' });
    spawnSync('podman', ['rmi', '-f', 'localhost/vessel-bench-busybox:latest'], { stdio: 'ignore' });
  } catch (e) {
    console.log(`podman: not measured (${e.message.split('\n')[0]})`);
  }
} else console.log('podman: not installed, not measured');

console.log(`\n## ${N} containers at once: time until all run, supervision memory (PSS)`);
const pod = rows.find((r) => r.name.startsWith('podman'));
for (const r of rows) {
  const ratio = pod && r !== pod ? `  ×${(r.ms / pod.ms).toFixed(2)} of podman (goal ≤ 0.25)` : '';
  console.log(`${r.name.padEnd(40)} ${(r.ms / 1000).toFixed(2).padStart(6)} s  supervision ${mib(r.supervisionKiB).padStart(6)} MiB${ratio}   (${r.extra})`);
}
const now = rows.find((r) => r.name.startsWith('vessel up,'));
if (pod) console.log(`memory: vessel / podman conmon = ${(now.supervisionKiB / pod.supervisionKiB).toFixed(2)} (goal: ≤ 60 MiB in all)`);
spawnSync(process.execPath, [bin, 'gc'], { env, stdio: 'ignore' });
