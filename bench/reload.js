// Reloads of a published web container under the real Emperor, with a client loop on loopback:
// the longest stall (time between two answers) and the failed requests, for a spec with a health
// check (zero-downtime: the new container beside the old one) and the same spec without one
// (stop, then start), in the same run. Measures, never asserts (issue 16).
import { spawn, spawnSync } from 'node:child_process';
import { closeSync, mkdirSync, openSync, renameSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { connect } from 'node:net';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { busyboxWorld } from './lib.js';

const RELOADS = Number(process.env.BENCH_RELOADS ?? 5);
if (process.getuid() !== 0) {
  console.log('bench/reload.js needs root; skipped');
  process.exit(0);
}
const { bin, root, env } = busyboxWorld('reload');
const vassals = join(root, 'vassals');
const staging = join(root, 'staging');
mkdirSync(vassals, { recursive: true });
mkdirSync(staging, { recursive: true });
const port = 21000 + (process.pid % 4000);

const spec = (v, health) => [
  '[container]', 'image = busybox:latest',
  "command = sh -c 'mkdir -p /tmp/www && echo v$VERSION > /tmp/www/index.html && exec httpd -f -p 80 -h /tmp/www'",
  `env[] = VERSION=${v}`, 'min_uptime = 1', 'stop_timeout = 3',
  '[network]', 'name = benchreload', `publish[] = 127.0.0.1:${port}:80`,
  ...(health ? ['[health]', 'shell = "wget -q -O /dev/null http://127.0.0.1/"', 'interval = 200ms', 'timeout = 1s', 'retries = 2'] : []),
  '',
].join('\n');

const get = () => new Promise((res) => {
  const req = request(`http://127.0.0.1:${port}/`, { agent: false, timeout: 5000 }, (r) => {
    let b = '';
    r.on('data', (d) => (b += d));
    r.on('end', () => res(r.statusCode === 200 ? b.trim() : undefined));
  });
  req.on('error', () => res(undefined));
  req.on('timeout', () => req.destroy());
  req.end();
});
const drop = (text) => {
  writeFileSync(join(staging, 'web.ini'), text);
  renameSync(join(staging, 'web.ini'), join(vassals, 'web.ini'));
};
const stats = () => new Promise((res) => {
  const s = connect(join(root, 'run', 'emperor.stats'));
  let b = '';
  s.on('data', (d) => (b += d));
  s.on('end', () => res(b));
  s.on('error', () => res(undefined));
});

async function scenario(health, base) {
  drop(spec(base, health));
  for (let i = 0; i < 600 && (await get()) !== `v${base}`; i++) await sleep(50);
  await sleep(1500); // past min_uptime and the first checks
  let failed = 0;
  let answers = 0;
  let last = performance.now();
  let longest = 0;
  let running = true;
  const loop = (async () => {
    while (running) {
      const body = await get();
      const now = performance.now();
      if (body === undefined) failed++;
      else {
        answers++;
        longest = Math.max(longest, now - last);
        last = now;
      }
    }
  })();
  for (let v = base + 1; v <= base + RELOADS; v++) {
    drop(spec(v, health));
    for (let i = 0; i < 600 && (await get()) !== `v${v}`; i++) await sleep(20);
    await sleep(1500);
  }
  running = false;
  await loop;
  return { failed, answers, longest };
}

const logFd = openSync(join(root, 'up.log'), 'w');
const up = spawn(process.execPath, [bin, 'up', '--vassals', vassals], { env, stdio: ['ignore', logFd, logFd] });
closeSync(logFd);
try {
  for (let i = 0; i < 300 && !(await stats()); i++) await sleep(100);
  const zero = await scenario(true, 0);
  const plain = await scenario(false, 100);
  console.log(`\n## ${RELOADS} reloads of a published busybox httpd, a client loop on 127.0.0.1 (one request at a time)`);
  const row = (label, r) => console.log(`${label.padEnd(44)} failed ${String(r.failed).padStart(4)} of ${String(r.failed + r.answers).padStart(6)}   longest stall ${r.longest.toFixed(0).padStart(6)} ms`);
  row('with a health check (zero-downtime reload)', zero);
  row('without one (stop, then start)', plain);
} finally {
  up.kill('SIGTERM');
  await new Promise((res) => up.once('exit', res));
  spawnSync(process.execPath, [bin, 'gc'], { env, stdio: 'ignore' });
}
