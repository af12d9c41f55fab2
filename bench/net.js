// Published-port containers, end to end: launch → first HTTP 200 from a busybox httpd behind
// `-p`, and stop → everything removed. vessel against a raw floor (unshare + one `ip -batch` +
// `nsenter ip -batch` + one `nft -f`, what vessel does without vessel) and `podman run -p`, in
// the same run, interleaved. Goals (issue 4): ≤ 0.4 × podman to first 200, ≤ 0.2 × its
// stop-and-remove. Measures only; never asserts (shared, noisy machines).
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readlinkSync, rmSync } from 'node:fs';
import { request } from 'node:http';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { beforeWorld, busyboxWorld, have, median, warmWorld } from './lib.js';

const runs = Number(process.env.BENCH_RUNS ?? 10);
const world = busyboxWorld('net');
const { bin, root, env, tarball, rootfs } = world;

function sh(argv, input, shEnv = env) {
  const r = spawnSync(argv[0], argv.slice(1), { input, env: shEnv, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`${argv.join(' ')} exited ${r.status}: ${r.stderr}`);
  return r.stdout;
}

function get(port) {
  return new Promise((res) => {
    const req = request({ host: '127.0.0.1', port, path: '/', agent: false, timeout: 2000 }, (r) => {
      r.resume();
      r.on('end', () => res(r.statusCode));
    });
    req.on('error', () => res(0));
    req.on('timeout', () => req.destroy());
    req.end();
  });
}

async function until200(port, t0) {
  for (;;) {
    if ((await get(port)) === 200) return Number(process.hrtime.bigint() - t0) / 1e6;
    if (Number(process.hrtime.bigint() - t0) / 1e6 > 20_000) throw new Error(`no HTTP 200 on ${port}`);
    await sleep(1);
  }
}

const ms = (t0) => Number(process.hrtime.bigint() - t0) / 1e6;
let portSeq = 20000 + (process.pid % 5000) * 2;

const floorBridge = `vslbf${process.pid % 100000}`;
const floorTable = `vsl_bench_${process.pid}`;
function cleanupAll() {
  spawnSync(process.execPath, [bin, 'network', 'rm', 'benchnet', 'benchnet4'], { env, stdio: 'ignore' });
  spawnSync('nft', ['delete', 'table', 'ip', floorTable], { stdio: 'ignore' });
  spawnSync('ip', ['link', 'del', floorBridge], { stdio: 'ignore' });
  for (const c of cleanups) c();
  if (existsSync(root)) rmSync(root, { recursive: true, force: true });
}
process.on('uncaughtException', (e) => { console.error(e); cleanupAll(); process.exit(1); });
const cleanups = [];

// --- the floor: what vessel does, by hand --------------------------------------------------
sh(['ip', '-batch', '-'], `link add ${floorBridge} type bridge\naddr add 10.254.77.1/24 dev ${floorBridge}\nlink set ${floorBridge} up\n`);
sh(['sh', '-c', `echo 1 > /proc/sys/net/ipv4/ip_forward; echo 1 > /proc/sys/net/ipv4/conf/${floorBridge}/route_localnet`]);
// nft 1.0.6: a rule ends at a newline (or `;`) before the closing brace.
sh(['nft', '-f', '-'], `table ip ${floorTable} {
  chain pre { type nat hook prerouting priority dstnat; policy accept;
    fib daddr type local jump publish
  }
  chain out { type nat hook output priority -100; policy accept;
    fib daddr type local jump publish
  }
  chain publish {
  }
  chain post { type nat hook postrouting priority srcnat; policy accept;
    ip saddr 127.0.0.0/8 oifname "${floorBridge}" masquerade
  }
}
`);

const floor = {
  name: 'floor (unshare+ip+nft)',
  async launch(port) {
    const t0 = process.hrtime.bigint();
    const child = spawn('unshare', ['--pid', '--fork', '--mount', '--net', `--root=${rootfs}`, '--mount-proc', '/bin/busybox', 'httpd', '-f', '-p', '80', '-h', '/www'], { stdio: 'ignore', detached: true });
    const hostNs = readlinkSync('/proc/self/ns/net');
    while (readlinkSync(`/proc/${child.pid}/ns/net`) === hostNs) await sleep(0);
    const hostIf = `vslbh${process.pid % 100000}`;
    sh(['ip', '-batch', '-'], `link add ${hostIf} type veth peer name eth0 netns ${child.pid}\nlink set ${hostIf} master ${floorBridge}\nlink set ${hostIf} up\n`);
    sh(['nsenter', '-t', String(child.pid), '-n', 'ip', '-batch', '-'], 'addr add 10.254.77.2/24 dev eth0\nlink set eth0 up\nlink set lo up\nroute add default via 10.254.77.1\n');
    sh(['nft', '-f', '-'], `add rule ip ${floorTable} publish tcp dport ${port} dnat to 10.254.77.2:80\n`);
    const t = await until200(port, t0);
    this.child = child;
    return t;
  },
  async stop() {
    const t0 = process.hrtime.bigint();
    process.kill(-this.child.pid, 'SIGKILL');
    await new Promise((r) => (this.child.exitCode !== null ? r() : this.child.once('exit', r)));
    sh(['nft', 'flush', 'chain', 'ip', floorTable, 'publish']);
    // the veth went with the namespace
    return ms(t0);
  },
};

// --- vessel ------------------------------------------------------------------------------
sh([process.execPath, bin, 'network', 'create', 'benchnet']);
// The same without IPv6 (issue 17): what dual stack costs a start (an address, a route, rules).
sh([process.execPath, bin, 'network', 'create', 'benchnet4', '--ipv6=false']);
let n = 0;
// `vessel` as users run it with a warm vessel up: the native front end hands run/rm to it
const warm = await warmWorld(world);
const nodeCli = [process.execPath, bin];
const onNetwork = (name, network, cli = [warm.front], cliEnv = env) => ({
  name,
  async launch(port) {
    this.cname = `bn${n++}`;
    const t0 = process.hrtime.bigint();
    sh([...cli, 'run', '-d', '--name', this.cname, '--network', network, '-p', `${port}:80`, 'busybox', 'httpd', '-f', '-p', '80', '-h', '/www'], undefined, cliEnv);
    return until200(port, t0);
  },
  async stop() {
    const t0 = process.hrtime.bigint();
    sh([...cli, 'rm', '-f', this.cname], undefined, cliEnv);
    return ms(t0);
  },
});
const vesselNamed = onNetwork('vessel (existing network)', 'benchnet');
const vesselV4 = onNetwork('vessel (existing, --ipv6=false)', 'benchnet4');
// the same without vessel up: the Node CLI prepares in its own process
const vesselNode = onNetwork('vessel node CLI (existing network)', 'benchnet', nodeCli);
const vesselAuto = {
  name: 'vessel (network on first use)',
  async launch(port) {
    this.cname = `ba${n++}`;
    const t0 = process.hrtime.bigint();
    sh([warm.front, 'run', '-d', '--name', this.cname, '--network', `auto${n}`, '-p', `${port}:80`, 'busybox', 'httpd', '-f', '-p', '80', '-h', '/www']);
    return until200(port, t0);
  },
  async stop() {
    const t0 = process.hrtime.bigint();
    sh([warm.front, 'rm', '-f', this.cname]);
    return ms(t0);
  },
};

const candidates = [floor, vesselNamed, vesselV4, vesselAuto, vesselNode];
// BENCH_BEFORE: another build (its own root and network), for before/after rows in one run
const before = beforeWorld(world);
if (before) {
  sh([process.execPath, before.bin, 'network', 'create', 'benchnet'], undefined, before.env);
  candidates.push(onNetwork('vessel (before)', 'benchnet', [process.execPath, before.bin], before.env));
  cleanups.push(() => {
    spawnSync(process.execPath, [before.bin, 'network', 'rm', 'benchnet'], { env: before.env, stdio: 'ignore' });
    before.gc();
  });
}
if (have('podman')) {
  try {
    execFileSync('podman', ['import', tarball, 'localhost/vessel-bench-busybox:latest'], { stdio: 'ignore' });
    cleanups.push(() => spawnSync('podman', ['rmi', '-f', 'localhost/vessel-bench-busybox:latest'], { stdio: 'ignore' }));
    candidates.push({
      name: 'podman run -p',
      async launch(port) {
        this.cname = `vessel-bench-${process.pid}-${n++}`;
        const t0 = process.hrtime.bigint();
        // runc and explicit ulimits: these hosts' crun refuses cgroup-v1 hybrid mode, and the
        // default RLIMIT_NOFILE/NPROC podman asks for exceed what the host lets it set.
        sh(['podman', 'run', '-d', '--name', this.cname, '--runtime', 'runc', '--ulimit', 'nofile=1024:1024', '--ulimit', 'nproc=1024:1024',
          '-p', `${port}:80`, 'localhost/vessel-bench-busybox:latest', '/bin/busybox', 'httpd', '-f', '-p', '80', '-h', '/www']);
        return until200(port, t0);
      },
      async stop() {
        const t0 = process.hrtime.bigint();
        sh(['podman', 'stop', '-t', '0', this.cname]);
        sh(['podman', 'rm', this.cname]);
        return ms(t0);
      },
    });
  } catch (e) {
    console.log(`podman: not measured (${e.message.split('\n')[0]})`);
  }
} else console.log('podman: not installed, not measured');

const times = new Map(candidates.map((c) => [c.name, { up: [], down: [] }]));
try {
  for (let i = -1; i < runs; i++) {
    for (const c of candidates) {
      const up = await c.launch(portSeq++);
      const down = await c.stop();
      if (i >= 0) { times.get(c.name).up.push(up); times.get(c.name).down.push(down); }
    }
  }
  const w = Math.max(...candidates.map((c) => c.name.length));
  const row = (label, key) => {
    console.log(`\n## ${label}, ${runs} runs each (interleaved, first round discarded)`);
    const pod = times.get('podman run -p')?.[key];
    const fl = median(times.get(floor.name)[key]);
    for (const c of candidates) {
      const xs = times.get(c.name)[key];
      const m = median(xs);
      const ratios = [`×${(m / fl).toFixed(2)} of floor`, ...(pod ? [`×${(m / median(pod)).toFixed(2)} of podman`] : [])];
      console.log(`${c.name.padEnd(w)}  median ${m.toFixed(1).padStart(7)} ms  min ${Math.min(...xs).toFixed(1).padStart(7)} ms  ${ratios.join('  ')}`);
    }
  };
  row('launch → first HTTP 200 from a published port', 'up');
  row('stop → everything removed', 'down');
  if (times.get('podman run -p')) {
    const r = (k) => median(times.get(vesselNamed.name)[k]) / median(times.get('podman run -p')[k]);
    console.log(`\nvessel / podman: first 200 ${r('up').toFixed(2)} (goal ≤ 0.4), stop+remove ${r('down').toFixed(2)} (goal ≤ 0.2)`);
    const rn = (k) => median(times.get(vesselNode.name)[k]) / median(times.get('podman run -p')[k]);
    console.log(`without vessel up (node CLI): first 200 ${rn('up').toFixed(2)}, stop+remove ${rn('down').toFixed(2)}`);
  }
} finally {
  await warm.stop();
  cleanupAll();
}
