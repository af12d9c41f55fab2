// Publish and pull of a large image over S3 (s3rver and Ceph radosgw) and sftp (OpenSSH),
// against the usual clients moving the same bytes: `rclone copyto` and `aws s3 cp` for S3,
// the `sftp` command (batch mode, the same key) for sftp. Two image sizes, so that vessel's peak
// RSS (from /usr/bin/time) shows whether memory stays flat as images grow.
// Goal (issues 7 and 15): vessel ≤ 1.1 × the best client; a pull's peak RSS flat and ≤ 80 MiB.
// Measures; never asserts.
//
//   node bench/registry.js                     sizes 100 and 190 MiB, 3 runs each (both below the
//                                              200 MiB single-PUT limit; BENCH_SIZES=300 shows multipart)
//   BENCH_SIZES=50 BENCH_RUNS=1 BENCH_SERVERS=s3rver,sftp node bench/registry.js
// "vessel pull" is the Node CLI alone (node bin/vessel.js); "vessel pull (served)" is `vessel` as
// users run it with a `vessel up` running: the native front end hands the pull to that warm process
// (docs/supervision.md); its RSS column is vessel up's peak during the pull, and the line after the
// table says what vessel up held before it.
//   BENCH_BEFORE=/tmp/vessel-before/bin/vessel.js node bench/registry.js
//                                              adds "vessel publish (before)" and "vessel pull (before)"
//                                              rows from another build
//                                              (a copy of bin/, dist/ and node_modules of an older
//                                              commit), so before and after come from one run
//
// The servers are the tests' own helpers (test/helpers/registry-servers.ts, bundled here with
// esbuild) running in a child process: the measured commands run synchronously, and s3rver must
// keep serving meanwhile.
import { spawn, spawnSync, execFileSync } from 'node:child_process';
import { createInterface } from 'node:readline';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import { median, tmpRoot, warmUp } from './lib.js';

const repo = join(dirname(fileURLToPath(import.meta.url)), '..');
const bin = join(repo, 'bin', 'vessel.js');
const runs = Number(process.env.BENCH_RUNS ?? 3);
const sizes = (process.env.BENCH_SIZES ?? '100,190').split(',').map(Number);
const servers = (process.env.BENCH_SERVERS ?? 's3rver,radosgw,sftp').split(',');
const before = process.env.BENCH_BEFORE;
const work = tmpRoot('registry');
const cleanups = [];

/** Run argv under /usr/bin/time: wall ms and peak RSS (KiB). */
function measure(argv, env = process.env) {
  const rssFile = join(work, 'rss');
  // Untimed: the pages the previous command dirtied (a pull writes its blob and the unpacked
  // tree) are written back now, not by the kernel's flusher in the middle of this one.
  spawnSync('sync');
  const t0 = process.hrtime.bigint();
  const r = spawnSync('/usr/bin/time', ['-f', '%M', '-o', rssFile, ...argv], { env, stdio: ['ignore', 'ignore', 'pipe'] });
  const ms = Number(process.hrtime.bigint() - t0) / 1e6;
  if (r.status !== 0) throw new Error(`${argv.join(' ')} exited ${r.status}: ${String(r.stderr).slice(-2000)}`);
  return { ms, rssKiB: Number(readFileSync(rssFile, 'utf8').trim().split('\n').pop()) };
}

let built = false;
async function startServer(kind) {
  const helper = join(repo, 'node_modules', '.cache', 'vessel-bench', 'registry-servers.mjs');
  if (!built) {
    built = true;
    await build({ entryPoints: [join(repo, 'test/helpers/registry-servers.ts')], bundle: true, platform: 'node', format: 'esm', target: 'node20', packages: 'external', outfile: helper, logLevel: 'warning' });
  }
  const host = `
    const m = await import(${JSON.stringify(helper)});
    const s = await (${JSON.stringify(kind)} === 's3rver' ? m.startS3rver() : ${JSON.stringify(kind)} === 'radosgw' ? m.startRadosgw('vessel', { memstoreBytes: 8 * 1024 ** 3 }) : m.startSshd());
    const info = Object.fromEntries(Object.entries(s).filter(([, v]) => typeof v !== 'function'));
    process.stdout.write(JSON.stringify(info) + '\\n');
    let stopping = false;
    const stop = async () => { if (stopping) return; stopping = true; await s.stop(); process.exit(0); };
    process.on('SIGTERM', stop);
    process.stdin.on('end', stop);
    process.stdin.resume();`;
  const child = spawn(process.execPath, ['--input-type=module', '-e', host], { stdio: ['pipe', 'pipe', 'inherit'], cwd: repo });
  const exited = new Promise((r) => child.once('exit', r));
  cleanups.push(async () => {
    child.stdin.end();
    await exited;
  });
  const line = await new Promise((res, rej) => {
    createInterface({ input: child.stdout }).once('line', res);
    child.once('exit', (c) => rej(new Error(`${kind} did not start (exit ${c})`)));
  });
  return JSON.parse(line);
}

/** A single-layer image of `mb` MB of random bytes; returns the layer blob file in a file:// registry. */
function makeImage(mb) {
  const dir = join(work, `img-${mb}`);
  mkdirSync(join(dir, 'rootfs'), { recursive: true });
  execFileSync('sh', ['-c', `head -c ${mb}M /dev/urandom > "$1/rootfs/data"`, 'sh', dir]);
  execFileSync('tar', ['-C', join(dir, 'rootfs'), '-cf', join(dir, 'img.tar'), '.']);
  rmSync(join(dir, 'rootfs'), { recursive: true });
  const env = { ...process.env, VESSEL_ROOT: join(work, 'src'), VESSEL_LOG_LEVEL: 'warn' };
  execFileSync(process.execPath, [bin, 'image', 'import', join(dir, 'img.tar'), `big${mb}:latest`], { env, stdio: 'ignore' });
  rmSync(join(dir, 'img.tar'));
  execFileSync(process.execPath, [bin, 'publish', `big${mb}`, `file://${join(dir, 'reg')}`], { env, stdio: 'ignore' });
  const ref = JSON.parse(readFileSync(join(dir, 'reg', 'refs', `big${mb}`, '_', 'latest'), 'utf8'));
  const manifest = JSON.parse(readFileSync(join(dir, 'reg', 'blobs', 'sha256', ref.digest.slice(7)), 'utf8'));
  const layer = manifest.layers[0];
  return { env, blob: join(dir, 'reg', 'blobs', 'sha256', layer.digest.slice(7)), size: layer.size };
}

/**
 * Each candidate once per round, interleaved, after one warm-up round. Besides the medians, each
 * vessel row's ratio to the best client of the same round (paired): this shared machine has slow
 * and fast spells of seconds, which then hit both alike.
 */
function rounds(cands) {
  const res = new Map(cands.map((c) => [c.name, []]));
  const paired = new Map(cands.map((c) => [c.name, []]));
  for (let i = 0; i <= runs; i++) {
    const round = new Map();
    for (const c of cands) {
      c.before?.();
      const m = c.run();
      if (i > 0) res.get(c.name).push(m);
      round.set(c.name, m.ms);
    }
    const best = Math.min(...cands.filter((c) => !c.vessel && !c.floor).map((c) => round.get(c.name)));
    if (i > 0 && Number.isFinite(best)) for (const c of cands) paired.get(c.name).push(round.get(c.name) / best);
  }
  return cands.map((c) => ({ name: c.name, vessel: c.vessel ?? false, floor: c.floor ?? false, ms: median(res.get(c.name).map((m) => m.ms)), rss: Math.max(...res.get(c.name).map((m) => m.rssKiB)), paired: paired.get(c.name) }));
}

const summary = [];
function report(title, rows, mb) {
  console.log(`\n## ${title} (${mb} MB, median of ${runs})`);
  const best = Math.min(...rows.filter((r) => !r.vessel && !r.floor).map((r) => r.ms));
  for (const r of rows) {
    const mbps = (mb * 1.048576) / (r.ms / 1000);
    const ratio = Number.isFinite(best) ? `  ×${(r.ms / best).toFixed(2)} of the best client${r.floor ? ' (not a client: what a pull adds)' : ''}` : '';
    console.log(`${r.name.padEnd(24)} ${r.ms.toFixed(0).padStart(7)} ms  ${mbps.toFixed(0).padStart(5)} MB/s  peak RSS ${(r.rss / 1024).toFixed(0).padStart(4)} MiB${ratio}`);
    if (r.vessel && r.paired.length) {
      const sorted = [...r.paired].sort((a, b) => a - b).map((x) => x.toFixed(2)).join(' ');
      console.log(`${''.padEnd(24)} paired with the round's best client: median ×${median(r.paired).toFixed(2)} (${sorted})`);
    }
    summary.push({ title, name: r.name, mb, ratio: r.ms / best, paired: r.paired.length ? median(r.paired) : undefined, rssMiB: r.rss / 1024 });
  }
}

/** vessel publish of this build, and of BENCH_BEFORE's when given, each to a registry emptied first. */
function vesselPublishes(image, url, env, empty) {
  const publish = (name, b) => ({ name, vessel: true, before: empty, run: () => measure([process.execPath, b, 'publish', image, url], env) });
  return [publish('vessel publish', bin), ...(before ? [publish('vessel publish (before)', before)] : [])];
}

/** vessel pull of this build, and of BENCH_BEFORE's when given, each into a fresh store. */
function vesselPulls(image, env, dst) {
  const pull = (name, b) => ({ name, vessel: true, before: () => rmSync(dst, { recursive: true, force: true }), run: () => measure([process.execPath, b, 'pull', image], { ...env, VESSEL_ROOT: dst }) });
  return [pull('vessel pull', bin), ...(before ? [pull('vessel pull (before)', before)] : [])];
}

/**
 * vessel pull through the front end, served by a warm vessel up (WARM, started with ENV) whose
 * store drops the image before each pull (untimed). Its RSS is vessel up's peak meanwhile.
 */
function servedPull(image, env, warm, rest) {
  return {
    name: 'vessel pull (served)', vessel: true,
    before: () => spawnSync(process.execPath, [bin, 'image', 'rm', image.slice(image.lastIndexOf('/') + 1)], { env, stdio: 'ignore' }),
    run: () => {
      const r = warm.peakRss(() => measure([warm.front, 'pull', image], env));
      rest.push(r.upRestMiB);
      return { ms: r.ms, rssKiB: r.upPeakMiB * 1024 };
    },
  };
}

/** What a served pull's vessel up held before the pulls, after the table. */
function servedNote(rest) {
  if (rest.length) console.log(`(vessel pull (served): vessel up held ${median(rest).toFixed(0)} MiB before each pull; its peak is the RSS column)`);
}

/** A pull also unpacks the layer into the store; GNU tar extracting the same blob is that step's floor. */
function unpackFloor(img) {
  const dir = join(work, 'unpack');
  return {
    name: 'tar -x of the layer', floor: true,
    before: () => { rmSync(dir, { recursive: true, force: true }); mkdirSync(dir); },
    run: () => measure(['tar', '-xf', img.blob, '-C', dir]),
  };
}

async function s3Bench(kind, s3, img, mb) {
  const env = { ...process.env, ...s3.env };
  const aws = (args) => ['/usr/bin/aws', '--endpoint-url', s3.endpoint, ...args];
  const rclone = {
    ...env, RCLONE_CONFIG_X_TYPE: 's3', RCLONE_CONFIG_X_PROVIDER: 'Other', RCLONE_CONFIG_X_ENDPOINT: s3.endpoint,
    RCLONE_CONFIG_X_ACCESS_KEY_ID: s3.env.AWS_ACCESS_KEY_ID, RCLONE_CONFIG_X_SECRET_ACCESS_KEY: s3.env.AWS_SECRET_ACCESS_KEY,
    RCLONE_CONFIG_X_REGION: 'us-east-1', RCLONE_CONFIG_X_FORCE_PATH_STYLE: 'true', RCLONE_CONFIG: '/dev/null', AWS_CA_BUNDLE: '',
  };
  const venv = { ...img.env, ...s3.env };
  const url = `s3://${s3.bucket}/vessel${mb}`;
  const clear = (prefix) => spawnSync('/usr/bin/aws', ['--endpoint-url', s3.endpoint, 's3', 'rm', '--recursive', '--only-show-errors', `s3://${s3.bucket}/${prefix}/`], { env, stdio: 'ignore' });
  const dst = join(work, 'dst');
  const out = join(work, 'out.blob');
  const servedEnv = { ...venv, VESSEL_ROOT: join(work, `served-${kind}`) };
  const warm = await warmUp(servedEnv);
  const rest = [];
  report(`publish over S3 (${kind})`, rounds([
    ...vesselPublishes(`big${mb}`, url, venv, () => clear(`vessel${mb}`)),
    { name: 'rclone copyto', run: () => measure(['rclone', 'copyto', '--ignore-times', img.blob, `x:${s3.bucket}/rclone${mb}/blob`], rclone) },
    { name: 'aws s3 cp', run: () => measure(aws(['s3', 'cp', '--only-show-errors', img.blob, `s3://${s3.bucket}/aws${mb}/blob`]), env) },
  ]), mb);
  report(`pull over S3 (${kind})`, rounds([
    // A pull also unpacks the layer into the store: more work than a plain copy.
    ...vesselPulls(`${url}/big${mb}:latest`, venv, dst),
    servedPull(`${url}/big${mb}:latest`, servedEnv, warm, rest),
    { name: 'rclone copyto', before: () => rmSync(out, { force: true }), run: () => measure(['rclone', 'copyto', '--ignore-times', `x:${s3.bucket}/rclone${mb}/blob`, out], rclone) },
    { name: 'aws s3 cp', before: () => rmSync(out, { force: true }), run: () => measure(aws(['s3', 'cp', '--only-show-errors', `s3://${s3.bucket}/aws${mb}/blob`, out]), env) },
    unpackFloor(img),
  ]), mb);
  servedNote(rest);
  await warm.stop();
  rmSync(servedEnv.VESSEL_ROOT, { recursive: true, force: true });
  for (const p of [`vessel${mb}`, `rclone${mb}`, `aws${mb}`]) clear(p);
  rmSync(dst, { recursive: true, force: true });
  rmSync(out, { force: true });
}

async function sftpBench(ssh, img, mb) {
  const base = join(ssh.dir, `reg${mb}`);
  const url = `sftp://root@127.0.0.1:${ssh.port}${base}`;
  const venv = { ...img.env, VESSEL_SSH_KEY: ssh.key, VESSEL_KNOWN_HOSTS: ssh.knownHosts };
  const sftp = (batch) => {
    const f = join(work, 'batch');
    writeFileSync(f, batch);
    return ['sftp', '-q', '-b', f, '-i', ssh.key, '-P', String(ssh.port), '-o', `UserKnownHostsFile=${ssh.knownHosts}`, '-o', 'BatchMode=yes', 'root@127.0.0.1'];
  };
  mkdirSync(join(ssh.dir, `plain${mb}`), { recursive: true });
  const dst = join(work, 'dst');
  const out = join(work, 'out.blob');
  const servedEnv = { ...venv, VESSEL_ROOT: join(work, 'served-sftp') };
  const warm = await warmUp(servedEnv);
  const rest = [];
  report('publish over sftp (OpenSSH)', rounds([
    ...vesselPublishes(`big${mb}`, url, venv, () => rmSync(base, { recursive: true, force: true })),
    { name: 'sftp put', run: () => measure(sftp(`put ${img.blob} ${join(ssh.dir, `plain${mb}`, 'blob')}\n`)) },
  ]), mb);
  report('pull over sftp (OpenSSH)', rounds([
    ...vesselPulls(`${url}/big${mb}:latest`, venv, dst),
    servedPull(`${url}/big${mb}:latest`, servedEnv, warm, rest),
    { name: 'sftp get', before: () => rmSync(out, { force: true }), run: () => measure(sftp(`get ${join(ssh.dir, `plain${mb}`, 'blob')} ${out}\n`)) },
    unpackFloor(img),
  ]), mb);
  servedNote(rest);
  await warm.stop();
  rmSync(servedEnv.VESSEL_ROOT, { recursive: true, force: true });
  rmSync(base, { recursive: true, force: true });
  rmSync(join(ssh.dir, `plain${mb}`), { recursive: true, force: true });
  rmSync(dst, { recursive: true, force: true });
  rmSync(out, { force: true });
}

// An interrupted bench still stops its servers (they also stop when this process's pipe closes).
for (const sig of ['SIGINT', 'SIGTERM']) {
  process.once(sig, async () => {
    for (const c of cleanups.reverse()) await c().catch(() => undefined);
    rmSync(work, { recursive: true, force: true });
    process.exit(130);
  });
}

try {
  const started = {};
  for (const k of servers) started[k] = await startServer(k === 'sftp' ? 'sshd' : k);
  for (const mb of sizes) {
    const img = makeImage(mb);
    for (const k of servers) {
      if (k === 'sftp') await sftpBench(started[k], img, mb);
      else await s3Bench(k, started[k], img, mb);
    }
    rmSync(join(work, `img-${mb}`), { recursive: true, force: true });
  }
  console.log('\n## summary: every row against the best client of its table (vessel\'s goal ≤ 1.10), peak RSS by image size (goal: flat)');
  for (const t of [...new Set(summary.map((s) => s.title))]) {
    console.log(t);
    for (const n of [...new Set(summary.filter((s) => s.title === t).map((s) => s.name))]) {
      const rows = summary.filter((s) => s.title === t && s.name === n);
      console.log(`  ${n.padEnd(30)} ${rows.map((r) => `${r.mb} MB: ×${r.ratio.toFixed(2)}${r.paired === undefined ? '' : ` (paired ×${r.paired.toFixed(2)})`}, ${r.rssMiB.toFixed(0).padStart(4)} MiB`).join('   ')}`);
    }
  }
} finally {
  for (const c of cleanups.reverse()) await c();
  rmSync(work, { recursive: true, force: true });
}
