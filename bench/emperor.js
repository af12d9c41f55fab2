// The Emperor path, measured with the real uWSGI under `vessel up` (root; built dist/):
//   1. drop-to-running: rename a spec into the spec directory → the container's init is visible;
//      floor: an ordinary uWSGI vassal renamed into the Emperor directory (stats socket poked);
//   2. death-to-running-again: SIGKILL a loyal container's main process → a new init is visible;
//   3. memory: PSS per container (vassal + its vessel-init processes) with 20 containers up.
// Prints medians next to the goals of issue 14. Measures, never asserts.
import { spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, readdirSync, renameSync, rmdirSync, rmSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import { median, tmpRoot } from './lib.js';

const repo = join(dirname(fileURLToPath(import.meta.url)), '..');
const cli = join(repo, 'bin', 'vessel.js');
const RUNS = Number(process.env.BENCH_RUNS ?? 10);
// Issue 14's goals: drop ≤ 60 ms median, death → init again ≤ 150 ms median (≤ 400 max), ≤ 1 MiB supervision per container.
const GOALS = { drop: 60, death: 150, deathMax: 400, pssMiB: 1 };

if (process.getuid() !== 0) {
  console.log('bench/emperor.js needs root (namespaces, cgroups); skipped');
  process.exit(0);
}
if (spawnSync('uwsgi', ['--version']).status !== 0) {
  console.log('uwsgi is not installed (apt-get install uwsgi-core); skipped');
  process.exit(0);
}

const root = tmpRoot('emperor');
const vassals = join(root, 'vassals');
const staging = join(root, 'staging');
const emperorDir = join(root, 'emperor.d');
const statsSock = join(root, 'run', 'emperor.stats');
mkdirSync(vassals, { recursive: true });
mkdirSync(staging, { recursive: true });
const env = { ...process.env, VESSEL_ROOT: root, VESSEL_LOG_LEVEL: 'warn' };

function vessel(args) {
  const r = spawnSync(process.execPath, [cli, ...args], { env, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`vessel ${args.join(' ')}: ${r.stderr}`);
  return r.stdout;
}

function stats() {
  return new Promise((res) => {
    const s = connect(statsSock);
    let b = '';
    s.on('data', (d) => (b += d));
    s.on('end', () => res(JSON.parse(b)));
    s.on('error', () => res(undefined));
  });
}

function procs() {
  return readdirSync('/proc').filter((d) => /^\d+$/.test(d)).map(Number);
}
function cmdline(pid) {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').replace(/\0/g, ' ');
  } catch {
    return '';
  }
}
/** Children of a process (every thread's list): cheap enough to poll every 2 ms without
 *  stealing the CPU the measured start needs, unlike a scan of all of /proc. */
function kids(pid) {
  const out = [];
  let tasks = [];
  try {
    tasks = readdirSync(`/proc/${pid}/task`);
  } catch {
    return out;
  }
  for (const t of tasks) {
    try {
      for (const c of readFileSync(`/proc/${pid}/task/${t}/children`, 'utf8').split(' ')) if (c.trim()) out.push(Number(c));
    } catch {
      /* thread gone */
    }
  }
  return out;
}
let emperorPid = 0;
/**
 * A container's init: the child of its vassal, the native monitor (`vessel-init vassal --config
 * NAME.vessel`), which is a child of the Emperor. The init has no child until the command runs,
 * so "visible" is counted once the init's command (its own child) exists.
 */
function initOf(name) {
  const marker = `--config ${name}.vessel`;
  for (const v of kids(emperorPid)) {
    if (!cmdline(v).includes(marker)) continue;
    for (const p of kids(v)) if (kids(p).length > 0) return p;
  }
  return undefined;
}
function vassalRunning(ini) {
  return kids(emperorPid).some((p) => cmdline(p).includes(`--ini ${ini}`));
}
function pssKiB(pid) {
  try {
    const m = /^Pss:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8'));
    return m ? Number(m[1]) : 0;
  } catch {
    return 0;
  }
}
function descendants(pid) {
  const kids = new Map();
  for (const p of procs()) {
    let stat = '';
    try {
      stat = readFileSync(`/proc/${p}/stat`, 'utf8');
    } catch {
      continue; // exited meanwhile
    }
    const m = /\) \S+ (\d+)/.exec(stat);
    if (m) kids.set(Number(m[1]), [...(kids.get(Number(m[1])) ?? []), p]);
  }
  const out = [];
  const walk = (p) => {
    out.push(p);
    for (const c of kids.get(p) ?? []) walk(c);
  };
  walk(pid);
  return out;
}
function state(name) {
  try {
    return JSON.parse(readFileSync(join(root, 'containers', name, 'state.json'), 'utf8'));
  } catch {
    return undefined;
  }
}
async function until(what, fn, timeoutMs = 30_000, everyMs = 2) {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out: ${what}`);
    await sleep(everyMs);
  }
}
const spec = (minUptime = 1) => `[container]\nimage = busybox:latest\ncommand = sleep 1000000\nmin_uptime = ${minUptime}\nstop_timeout = 2\n`;
function drop(name, text) {
  writeFileSync(join(staging, `${name}.ini`), text);
  const t0 = performance.now();
  renameSync(join(staging, `${name}.ini`), join(vassals, `${name}.ini`));
  return t0;
}
const report = (label, xs, goal, unit = 'ms') =>
  console.log(`${label.padEnd(44)} median ${median(xs).toFixed(1).padStart(7)} ${unit}  min ${Math.min(...xs).toFixed(1).padStart(7)}  max ${Math.max(...xs).toFixed(1).padStart(7)}${goal ? `   goal ≤ ${goal} ${unit}` : ''}`);

// Image and Emperor.
const tar = join(root, 'busybox.tar.gz');
spawnSync('sh', [join(repo, 'test/fixtures/build-busybox.sh'), tar], { stdio: 'ignore' });
vessel(['image', 'import', tar, 'busybox:latest']);
const logFd = openSync(join(root, 'up.log'), 'w');
const up = spawn(process.execPath, [cli, 'up', '--vassals', vassals], { env, stdio: ['ignore', logFd, logFd] });
closeSync(logFd);
try {
  emperorPid = (await until('the Emperor', async () => await stats(), 30_000, 50)).pid;

  // 1. Drop → running, and the uWSGI floor.
  const dropMs = [];
  const floorMs = [];
  for (let i = 0; i < RUNS + 1; i++) {
    const name = `bd-${i}`;
    const t0 = drop(name, spec());
    await until(`${name} init`, () => initOf(name));
    if (i > 0) dropMs.push(performance.now() - t0);
    rmSync(join(vassals, `${name}.ini`));
    await until(`${name} gone`, () => !initOf(name) && !existsSync(join(root, 'containers', name)));

    const ini = `bf-${i}.ini`;
    writeFileSync(join(staging, ini), '[uwsgi]\nmaster = true\nsocket = 127.0.0.1:0\nprocesses = 1\n');
    const t1 = performance.now();
    renameSync(join(staging, ini), join(emperorDir, ini));
    void stats(); // the poke the watcher does after rendering
    await until(`${ini} vassal`, () => vassalRunning(ini));
    if (i > 0) floorMs.push(performance.now() - t1);
    rmSync(join(emperorDir, ini));
    void stats();
    await until(`${ini} gone`, () => !vassalRunning(ini));
  }
  console.log(`\n## Emperor (${RUNS} runs each; uWSGI ${(await stats()).version})`);
  report('uWSGI vassal: rename → vassal process', floorMs);
  report('vessel: rename spec → container init visible', dropMs, GOALS.drop);

  // 2. Death → running again, for a loyal container.
  drop('bk', spec(1));
  const deathMs = [];
  for (let i = 0; i < RUNS; i++) {
    await until('bk loyal', async () => (await stats())?.vassals.find((v) => v.id === 'bk.vessel')?.loyal === 1, 30_000, 100);
    const st = await until('bk running', () => { const s = state('bk'); return s?.status === 'running' && s.pid ? s : undefined; });
    const old = initOf('bk');
    const main = descendants(st.pid).find((p) => cmdline(p).startsWith('sleep'));
    const t0 = performance.now();
    process.kill(main, 'SIGKILL');
    await until('bk again', () => { const p = initOf('bk'); return p && p !== old ? p : undefined; });
    deathMs.push(performance.now() - t0);
  }
  report('vessel: kill loyal container → init again', deathMs, GOALS.death);
  console.log(`  max ${Math.max(...deathMs).toFixed(1)} ms (goal ≤ ${GOALS.deathMax} ms)`);
  rmSync(join(vassals, 'bk.ini'));
  await until('bk gone', () => !existsSync(join(root, 'containers', 'bk')));

  // 3. PSS with 20 containers.
  const names = Array.from({ length: 20 }, (_, i) => `bm-${String(i).padStart(2, '0')}`);
  for (const n of names) writeFileSync(join(staging, `${n}.ini`), spec(1));
  for (const n of names) renameSync(join(staging, `${n}.ini`), join(vassals, `${n}.ini`));
  await until('20 running', () => names.every((n) => state(n)?.status === 'running'), 120_000, 100);
  await sleep(3000);
  const monitorKiB = [];
  const initKiB = [];
  for (const n of names) {
    const s = state(n);
    monitorKiB.push(pssKiB(s.supervisorPid));
    const inits = descendants(s.supervisorPid).filter((p) => p !== s.supervisorPid && cmdline(p).includes('vessel-init'));
    initKiB.push(inits.reduce((a, p) => a + pssKiB(p), 0));
  }
  const per = monitorKiB.map((v, i) => (v + initKiB[i]) / 1024);
  const upKiB = pssKiB(up.pid);
  console.log('\n## Memory with 20 containers up (PSS from /proc/PID/smaps_rollup)');
  report('monitor (vessel-init vassal) per container', monitorKiB.map((k) => k / 1024), undefined, 'MiB');
  report('container init (pid 1 inside) per container', initKiB.map((k) => k / 1024), undefined, 'MiB');
  report('supervision per container (monitor + init)', per, GOALS.pssMiB, 'MiB');
  console.log(`vessel up (one per host, all 20 together): ${(upKiB / 1024).toFixed(1)} MiB`);
  console.log('reference: the earlier Node vassal 12.1 MiB per container; podman conmon 0.5 MiB (bench/scale.js measures it)');
} finally {
  up.kill('SIGTERM');
  await new Promise((res) => up.once('exit', res));
  spawnSync(process.execPath, [cli, 'gc'], { env, stdio: 'ignore' });
  // The root's own (now empty) cgroup subtree: vessel-<hash of root> in every hierarchy.
  const parent = `vessel-${createHash('sha256').update(root).digest('hex').slice(0, 8)}`;
  for (const c of readdirSync('/sys/fs/cgroup')) {
    try { rmdirSync(join('/sys/fs/cgroup', c, parent)); } catch { /* absent or not a hierarchy */ }
  }
  rmSync(root, { recursive: true, force: true });
}
