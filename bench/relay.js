// The [::1] relay (hosts where br_netfilter hands bridged IPv6 to netfilter; docs/networking.md,
// "The [::1] relay"): what a published port costs through it. One busybox httpd container behind
// `-p`, reached three ways in the same run, interleaved: the kernel's own redirect at 127.0.0.1
// (nft DNAT: the floor), vessel's relay at [::1], and socat (the classic userland relay, a
// process per connection) at [::1] beside it as a peer when installed. Small requests per second
// (ab -c 8, a new connection each), one 64 MiB download (MB/s), and the relay's memory (VmRSS
// idle, VmHWM after the load). Measures only; never asserts (shared, noisy machines).
import { spawn, spawnSync } from 'node:child_process';
import { readFileSync, rmSync } from 'node:fs';
import { request } from 'node:http';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { busyboxWorld, have, median } from './lib.js';

const runs = Number(process.env.BENCH_RUNS ?? 5);
if (readFileSync('/proc/sys/net/bridge/bridge-nf-call-ip6tables', { encoding: 'utf8', flag: 'r' }).trim() !== '1') {
  console.log('bridge-nf-call-ip6tables is not 1 here: no relay runs (the kernel answers ::1); nothing to measure');
  process.exit(0);
}
if (!have('ab')) {
  console.log('ab (apache2-utils) is not installed: nothing to measure');
  process.exit(0);
}
const { bin, root, env } = busyboxWorld('relay');
const vessel = (args) => {
  const r = spawnSync(process.execPath, [bin, ...args], { env, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`vessel ${args.join(' ')} exited ${r.status}: ${r.stderr}`);
  return r.stdout;
};
const port = 20000 + (process.pid % 5000) * 2;
const socatPort = port + 1;
const children = [];
function cleanup() {
  for (const c of children) c.kill('SIGKILL');
  spawnSync(process.execPath, [bin, 'rm', '-f', 'relaybench'], { env, stdio: 'ignore' });
  spawnSync(process.execPath, [bin, 'gc'], { env, stdio: 'ignore' });
  rmSync(root, { recursive: true, force: true });
}
process.on('uncaughtException', (e) => { console.error(e); cleanup(); process.exit(1); });

function get(url) {
  return new Promise((res) => {
    const t0 = process.hrtime.bigint();
    let bytes = 0;
    const req = request(url, { agent: false, timeout: 30_000 }, (r) => {
      r.on('data', (d) => (bytes += d.length));
      r.on('end', () => res({ status: r.statusCode, bytes, ms: Number(process.hrtime.bigint() - t0) / 1e6 }));
    });
    req.on('error', () => res({ status: 0, bytes, ms: 0 }));
    req.end();
  });
}

function ab(url) {
  const r = spawnSync('ab', ['-q', '-n', '3000', '-c', '8', url], { encoding: 'utf8' });
  const rps = Number(/Requests per second:\s+([\d.]+)/.exec(r.stdout)?.[1] ?? 0);
  const failed = Number(/Failed requests:\s+(\d+)/.exec(r.stdout)?.[1] ?? 0);
  return { rps, failed };
}

const cmd = 'mkdir -p /tmp/www && cp /www/index.html /tmp/www/ && dd if=/dev/zero of=/tmp/www/big bs=1M count=64 2>/dev/null && exec httpd -f -p 80 -h /tmp/www';
vessel(['run', '-d', '--name', 'relaybench', '--network', 'relaybench', '-p', `${port}:80`, 'busybox', 'sh', '-c', cmd]);
const status = () => Object.fromEntries(readFileSync(join(root, 'containers', 'relaybench', 'monitor.status'), 'utf8').split('\n').map((l) => [l.split(' ')[0], l.slice(l.indexOf(' ') + 1)]));
const relayPid = Number(status().relay);
const mem = (key) => Number(new RegExp(`^${key}:\\s+(\\d+) kB`, 'm').exec(readFileSync(`/proc/${relayPid}/status`, 'utf8'))?.[1] ?? 0);
const targets = [
  { name: 'kernel redirect, 127.0.0.1 (floor)', base: `http://127.0.0.1:${port}` },
  { name: 'vessel relay, [::1]', base: `http://[::1]:${port}` },
];
if (have('socat')) {
  const info = JSON.parse(vessel(['network', 'inspect', 'relaybench']));
  const address6 = info.containers.find((c) => c.name === 'relaybench').address6;
  const s = spawn('socat', [`TCP6-LISTEN:${socatPort},bind=[::1],reuseaddr,fork`, `TCP6:[${address6}]:80`], { stdio: 'ignore' });
  children.push(s);
  targets.push({ name: 'socat (fork per connection), [::1]', base: `http://[::1]:${socatPort}` });
}
for (const t of targets) {
  for (let i = 0; ; i++) {
    if ((await get(`${t.base}/big`)).bytes === 64 << 20) break;
    if (i > 200) throw new Error(`${t.name}: no whole download`);
    await sleep(50);
  }
}
const idleRss = mem('VmRSS');

const rows = new Map(targets.map((t) => [t.name, { rps: [], mbps: [], failed: 0 }]));
for (let i = 0; i < runs; i++) {
  for (const t of targets) {
    const row = rows.get(t.name);
    const a = ab(`${t.base}/index.html`);
    row.rps.push(a.rps);
    row.failed += a.failed;
    const d = await get(`${t.base}/big`);
    row.mbps.push(d.bytes / 1e6 / (d.ms / 1000));
  }
}
const floor = rows.get(targets[0].name);
console.log(`\n## a published port through the [::1] relay (${runs} rounds, medians; ratios against the kernel's redirect)`);
const w = Math.max(...targets.map((t) => t.name.length));
for (const t of targets) {
  const r = rows.get(t.name);
  const rps = median(r.rps);
  const mbps = median(r.mbps);
  console.log(`${t.name.padEnd(w)}  ${rps.toFixed(0).padStart(6)} req/s ×${(rps / median(floor.rps)).toFixed(2)}  ${mbps.toFixed(0).padStart(5)} MB/s ×${(mbps / median(floor.mbps)).toFixed(2)}  failed ${r.failed}`);
}
console.log(`vessel relay memory: VmRSS ${idleRss} kB idle, VmHWM ${mem('VmHWM')} kB after the load, VmRSS ${mem('VmRSS')} kB after it`);
cleanup();
