import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { request } from 'node:http';
import { setTimeout as sleep } from 'node:timers/promises';

/**
 * Helpers for the networking tests: network namespaces standing in for containers, an address of
 * the host's own on a dummy interface, HTTP from the host and from inside a namespace.
 */

/** Root and the tools, or fail under CI (a missing service must fail there, not skip). */
export function netTestsCanRun(): boolean {
  const ok = process.getuid?.() === 0 && ['ip', 'nft', 'nsenter', 'unshare', 'busybox'].every((t) => {
    try { execFileSync('sh', ['-c', `command -v ${t}`], { stdio: 'ignore' }); return true; } catch { return false; }
  });
  if (!ok && process.env.CI === 'true') throw new Error('networking tests need root, iproute2, nftables, util-linux and busybox-static');
  return ok;
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

export function nftTableExists(table: string): boolean {
  return trySh(['nft', 'list', 'table', 'ip', table]).ok;
}

/** A free TCP/UDP port number in a quiet range (nothing bound on the host). */
export function freePort(): number {
  const bound = sh(['sh', '-c', 'cat /proc/net/tcp /proc/net/tcp6 /proc/net/udp /proc/net/udp6']);
  for (;;) {
    const p = 20000 + Math.floor(Math.random() * 20000);
    const hex = `:${p.toString(16).toUpperCase().padStart(4, '0')} `;
    if (!bound.includes(hex)) return p;
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
  trySh(['nft', 'delete', 'table', 'ip', nftTableName(scope)]);
  return { interfaces, table };
}
