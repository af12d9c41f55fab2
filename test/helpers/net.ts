import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { request } from 'node:http';
import { setTimeout as sleep } from 'node:timers/promises';

/**
 * Helpers for the networking tests: network namespaces standing in for containers, an address of
 * the host's own on a dummy interface, HTTP from the host and from inside a namespace.
 */

/** Root and these commands, or fail under CI (a missing service must fail there, not skip): `needs` says which packages. */
export function rootWithTools(tools: string[], needs: string): boolean {
  const ok = process.getuid?.() === 0 && tools.every((t) => {
    try { execFileSync('sh', ['-c', `command -v ${t}`], { stdio: 'ignore' }); return true; } catch { return false; }
  });
  if (!ok && process.env.CI === 'true') throw new Error(`${needs}: not root, or one of ${tools.join(', ')} is missing`);
  return ok;
}

export function netTestsCanRun(): boolean {
  return rootWithTools(['ip', 'nft', 'nsenter', 'unshare', 'busybox'], 'networking tests need root, iproute2, nftables, util-linux and busybox-static');
}

export function sh(argv: string[], input?: string): string {
  return execFileSync(argv[0]!, argv.slice(1), { encoding: 'utf8', input, stdio: ['pipe', 'pipe', 'pipe'] });
}

export function trySh(argv: string[]): { ok: boolean; out: string } {
  try {
    return { ok: true, out: sh(argv) };
  } catch (e) {
    return { ok: false, out: String((e as { stderr?: unknown }).stderr ?? e) };
  }
}

/** A process in a fresh network namespace (`unshare --net` unshares itself, so its pid is inside). */
export interface Netns {
  pid: number;
  child: ChildProcess;
  output(): string;
  kill(signal?: NodeJS.Signals): Promise<void>;
}

export async function spawnNetns(argv: string[]): Promise<Netns> {
  const child = spawn('unshare', ['--net', '--fork', '--kill-child', '--', ...argv], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout!.on('data', (d: Buffer) => { out += d.toString(); });
  child.stderr!.on('data', (d: Buffer) => { out += d.toString(); });
  const pid = child.pid!;
  // Wait until unshare has left the host's namespace.
  const hostNs = sh(['readlink', '/proc/self/ns/net']).trim();
  for (let i = 0; i < 200; i++) {
    const ns = trySh(['readlink', `/proc/${pid}/ns/net`]).out.trim();
    if (ns && ns !== hostNs) break;
    await sleep(5);
  }
  const exited = new Promise<void>((res) => child.once('exit', () => res()));
  return {
    pid,
    child,
    output: () => out,
    async kill(signal = 'SIGKILL') {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      await Promise.race([exited, sleep(3000)]);
    },
  };
}

export function httpGet(url: string, timeoutMs = 3000): Promise<{ status: number; body: string }> {
  return new Promise((res, rej) => {
    const req = request(url, { timeout: timeoutMs, agent: false }, (r) => {
      let body = '';
      r.on('data', (d: Buffer) => { body += d.toString(); });
      r.on('end', () => res({ status: r.statusCode ?? 0, body }));
    });
    req.on('timeout', () => req.destroy(new Error(`timeout ${url}`)));
    req.on('error', rej);
    req.end();
  });
}

/** First answer within a deadline: a freshly plugged veth needs a moment before it forwards. */
export async function waitHttp(url: string, deadlineMs = 5000): Promise<{ status: number; body: string }> {
  const end = Date.now() + deadlineMs;
  let last: unknown;
  while (Date.now() < end) {
    try {
      return await httpGet(url, 1000);
    } catch (e) {
      last = e;
      await sleep(50);
    }
  }
  throw last;
}

/** busybox wget run inside the namespace of `pid` (its -T option segfaults in Debian's 1.35: use timeout). */
export function wgetFrom(pid: number, url: string): { ok: boolean; out: string } {
  return trySh(['nsenter', '-t', String(pid), '-n', 'timeout', '5', 'busybox', 'wget', '-q', '-O', '-', url]);
}

export function vslInterfaces(): string[] {
  return existsSync('/sys/class/net') ? readdirSync('/sys/class/net').filter((n) => n.includes('vsl')) : [];
}

/** vessel's table (`inet` since it speaks IPv6; `ip` before: either counts as left over). */
export function nftTableExists(table: string): boolean {
  return trySh(['nft', 'list', 'table', 'inet', table]).ok || trySh(['nft', 'list', 'table', 'ip', table]).ok;
}

/** A free TCP/UDP port number in a quiet range (nothing bound on the host). */
export function freePort(): number {
  return freePorts(1);
}

/** The first of `n` consecutive free ports in a quiet range. */
export function freePorts(n: number): number {
  // read directly: after a load test the host holds tens of thousands of TIME_WAIT sockets, more
  // text than a child process's output buffer takes (the [::1] relay's are the host's own)
  const bound = ['tcp', 'tcp6', 'udp', 'udp6'].map((f) => readFileSync(`/proc/net/${f}`, 'utf8')).join('');
  const free = (p: number) => !bound.includes(`:${p.toString(16).toUpperCase().padStart(4, '0')} `);
  for (;;) {
    const p = 20000 + Math.floor(Math.random() * 20000);
    if (Array.from({ length: n }, (_, i) => p + i).every(free)) return p;
  }
}

/**
 * "The host's own address" for tests: an address from 198.18.0.0/15 (RFC 2544 benchmarking,
 * never routed outside) on an interface the test creates and removes. A port-less bridge, since
 * these kernels have no dummy driver (no loadable modules); its address is local all the same.
 */
export function addDummy(name: string, address: string): void {
  sh(['ip', 'link', 'add', name, 'type', 'bridge']);
  sh(['ip', 'addr', 'add', `${address}/32`, 'dev', name]);
  sh(['ip', 'link', 'set', name, 'up']);
}

export function delLink(name: string): void {
  trySh(['ip', 'link', 'del', name]);
}

/**
 * The bridges and host veths of these networks and containers under one state root that exist
 * now. Tests look only at their own names: other suites may run vessel networks on this host at
 * the same time, and their interfaces are none of our business (never delete them).
 */
export async function ownInterfaces(scope: string, networks: string[], containers: string[]): Promise<string[]> {
  const { bridgeName, vethNames } = await import('../../src/net/names.js');
  const names = [...networks.map((n) => bridgeName(scope, n)), ...containers.map((c) => vethNames(scope, c).host)];
  return vslInterfaces().filter((i) => names.includes(i));
}

/**
 * After a test of containers on vessel networks under one state root: what it left of its own
 * (bridges and host veths of these names, the root's nft table), removed so the host is clean
 * either way, and returned for the test to assert empty.
 */
export async function removeNetworkLeftovers(root: string, networks: string[], containers: string[]): Promise<{ interfaces: string[]; table: boolean }> {
  const { nftTableName } = await import('../../src/net/names.js');
  const { join } = await import('node:path');
  const scope = join(root, 'networks');
  const interfaces = await ownInterfaces(scope, networks, containers);
  const table = nftTableExists(nftTableName(scope));
  for (const i of interfaces) delLink(i);
  trySh(['nft', 'delete', 'table', 'inet', nftTableName(scope)]);
  return { interfaces, table };
}

/**
 * "The host's own IPv6 address" for tests: ADDRESS/128 on a port-less bridge the test creates and
 * removes, as addDummy does for IPv4 (`nodad`: usable at once). fd00::/8 ULA, never routed out.
 */
export function addHostAddress6(name: string, address: string): void {
  sh(['ip', 'link', 'add', name, 'type', 'bridge']);
  sh(['ip', 'addr', 'add', `${address}/128`, 'dev', name, 'nodad']);
  sh(['ip', 'link', 'set', name, 'up']);
}

/** Names for one suite's own host IPv6 address (addHostAddress6): random per run, `vsl` in the interface. */
export function testHost6(kind: string): { ifname: string; address: string; tag: string } {
  const tag = (0x1000 + Math.floor(Math.random() * 0xefff)).toString(16); // four hex digits, no leading 0: IPv6 text drops those
  return { ifname: `vsl${kind}${tag}`, address: `fd9${kind.length}:${tag}::10`, tag };
}

/** br_netfilter hands this network namespace's bridged IPv6 to netfilter (docker and k8s hosts): the tests ask what vessel asks. */
export { bridgeNfCallsIp6tables } from '../../src/net/linux/sysctl.js';

/**
 * The host's node, runnable inside a busybox container: /usr bind-mounted read-only at /host/usr
 * and started by its own loader (busybox images have no libc). Returns the -v flags and the argv.
 */
export function hostNodeInContainer(script: string): { volumes: string[]; argv: string[] } {
  const loader = sh(['readlink', '-f', '/lib64/ld-linux-x86-64.so.2']).trim();
  const libdir = loader.slice(0, loader.lastIndexOf('/'));
  const node = sh(['readlink', '-f', process.execPath]).trim();
  if (!loader.startsWith('/usr/') || !node.startsWith('/usr/')) throw new Error(`unexpected layout: ${loader} ${node}`);
  return { volumes: ['-v', '/usr:/host/usr:ro'], argv: [`/host${loader}`, '--library-path', `/host${libdir}`, `/host${node}`, '-e', script] };
}

/** A UDP answer to `payload` from HOST:PORT (udp4 or udp6), retried until a deadline. */
export async function udpAsk(host: string, port: number, payload: string, deadlineMs = 10_000): Promise<string> {
  const dgram = await import('node:dgram');
  return new Promise<string>((res, rej) => {
    const s = dgram.createSocket(host.includes(':') ? 'udp6' : 'udp4');
    const timer = setInterval(() => s.send(payload, port, host), 200);
    const deadline = setTimeout(() => { clearInterval(timer); s.close(); rej(new Error(`no UDP answer from ${host}:${port}`)); }, deadlineMs);
    s.on('message', (m) => { clearInterval(timer); clearTimeout(deadline); s.close(); res(m.toString()); });
    s.send(payload, port, host);
  });
}

/** Every IPv6 address and route on the host (all tables), one per line, for before/after checks. */
export function hostIpv6State(): string[] {
  const addrs = JSON.parse(sh(['ip', '-j', '-6', 'addr'])) as Array<{ ifname: string; addr_info: Array<{ local: string; prefixlen: number }> }>;
  const routes = JSON.parse(sh(['ip', '-j', '-6', 'route', 'show', 'table', 'all'])) as Array<{ dst: string; dev?: string; type?: string; table?: string }>;
  return [
    ...addrs.flatMap((a) => a.addr_info.map((i) => `addr ${i.local}/${i.prefixlen} ${a.ifname}`)),
    ...routes.map((r) => `route ${r.type ?? 'unicast'} ${r.dst} ${r.dev ?? ''} ${r.table ?? 'main'}`),
  ];
}

/**
 * argv that runs ARGV inside the named network namespace (/run/netns/NS, `ip netns add`) as if it
 * were the host: a private mount namespace with a sysfs of that network namespace (so
 * /sys/class/net shows its interfaces) and the host's cgroup mounts moved back under it.
 * `ip netns exec` would remount /sys and lose the cgroups that vessel needs.
 */
export function inNetnsArgv(ns: string, argv: string[]): string[] {
  const inner = 'mount -t sysfs sysfs /sys && mount --move "$0" /sys/fs/cgroup && rmdir "$0" && exec "$@"';
  const outer = `cg=$(mktemp -d /tmp/vsl-cg.XXXXXX) && mount --rbind /sys/fs/cgroup "$cg" && exec nsenter --net=/run/netns/"$0" sh -c '${inner}' "$cg" "$@"`;
  return ['unshare', '-m', '--propagation', 'private', 'sh', '-c', outer, ns, ...argv];
}

/**
 * The end of a networking suite: gc, its containers and networks removed, then whatever of its
 * own is still on the host (interfaces, the table, the suite's own `links`) removed by force, so a
 * failed test leaks nothing, and the root disposed; returns what the root still held (processes,
 * mounts) before that, which the suite expects to be nothing.
 */
export async function tearDownNetworkSuite(t: import('./vessel.js').TestRoot | undefined, networks: string[], containers: string[], links: string[]): Promise<string[]> {
  try {
    if (!t) return [];
    const { leftovers, vessel } = await import('./vessel.js');
    const { nftTableName } = await import('../../src/net/names.js');
    const scope = `${t.root}/networks`;
    await vessel(t, ['gc']);
    for (const c of containers) await vessel(t, ['rm', '-f', c]);
    for (const n of networks) await vessel(t, ['network', 'rm', n]);
    for (const i of await ownInterfaces(scope, networks, containers)) delLink(i);
    trySh(['nft', 'delete', 'table', 'inet', nftTableName(scope)]);
    const left = leftovers(t);
    t.dispose();
    return left;
  } finally {
    for (const l of links) delLink(l);
  }
}
