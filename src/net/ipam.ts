import { createHash } from 'node:crypto';
import { VesselError, formatCidr6, networkOf6, parseCidr6, type Cidr6 } from '../util/index.js';
import { formatCidr, intToIp, ipToInt, overlaps, parseCidr, size, subnetsOf, type Cidr } from './cidr.js';
import { hostAddress6, hostBits6, overlaps6 } from './cidr6.js';
import type { Lease, NetworkRecord } from './types.js';

/**
 * Address management, pure: which subnet a new network gets, which address a container gets.
 * The callers (network.ts, index.ts) hold the networks lock around read → pick → save, which is
 * what makes concurrent starts safe; nothing here touches the disk or the host.
 */
export interface PoolConfig {
  pool: Cidr;
  prefix: number;
}

/** VESSEL_NETWORK_POOL (default 10.77.0.0/16) cut into /VESSEL_NETWORK_PREFIX (default 24) subnets. */
export function poolConfig(env: NodeJS.ProcessEnv = process.env): PoolConfig {
  const pool = parseCidr(env.VESSEL_NETWORK_POOL || '10.77.0.0/16', 'VESSEL_NETWORK_POOL');
  const prefixText = env.VESSEL_NETWORK_PREFIX || '24';
  const prefix = Number(prefixText);
  if (!/^\d+$/.test(prefixText) || prefix < pool.prefix || prefix > 30) {
    throw new VesselError('E_CONFIG', `VESSEL_NETWORK_PREFIX=${prefixText}: expected a number between ${pool.prefix} and 30`);
  }
  return { pool, prefix };
}

/** A host route as far as overlap goes; `dev` names who owns it in error messages. */
export interface HostRoute {
  dst: Cidr;
  dev: string;
}

/** The subnets of existing vessel networks, for overlap checks. */
function networkSubnets(networks: NetworkRecord[]): Array<{ dst: Cidr; name: string }> {
  return networks.map((n) => ({ dst: parseCidr(n.subnet), name: n.name }));
}

/**
 * The first subnet of the pool that overlaps neither a vessel network nor anything routed on the
 * host (a LAN, a VPN, another tool's bridge): a container network shadowing a real route would cut
 * the host off from it.
 */
export function pickSubnet(cfg: PoolConfig, networks: NetworkRecord[], routes: HostRoute[]): Cidr {
  const taken = [...networkSubnets(networks).map((n) => n.dst), ...routes.map((r) => r.dst)];
  for (const candidate of subnetsOf(cfg.pool, cfg.prefix)) {
    if (!taken.some((t) => overlaps(t, candidate))) return candidate;
  }
  throw new VesselError('E_NETWORK', `network pool ${formatCidr(cfg.pool)}: no free /${cfg.prefix} subnet left`, {
    hint: 'remove unused networks (vessel network rm) or set VESSEL_NETWORK_POOL to a larger range',
  });
}

/** An explicit --subnet must not overlap a vessel network or a host route. */
export function checkSubnetFree(subnet: Cidr, networks: NetworkRecord[], routes: HostRoute[]): void {
  if (subnet.prefix > 30) {
    throw new VesselError('E_USAGE', `--subnet ${formatCidr(subnet)}: too small, use /30 or larger`);
  }
  for (const n of networkSubnets(networks)) {
    if (overlaps(n.dst, subnet)) {
      throw new VesselError('E_NETWORK', `--subnet ${formatCidr(subnet)}: overlaps network ${n.name} (${formatCidr(n.dst)})`, {
        hint: 'pick a free range, or omit --subnet to get one automatically',
      });
    }
  }
  for (const r of routes) {
    if (overlaps(r.dst, subnet)) {
      throw new VesselError('E_NETWORK', `--subnet ${formatCidr(subnet)}: overlaps ${formatCidr(r.dst)}, routed on this host via ${r.dev}`, {
        hint: 'pick a range no interface of the host uses (ip route show table all)',
      });
    }
  }
}

export function gatewayOf(subnet: Cidr): string {
  return intToIp(subnet.base + 1);
}

/**
 * The next free host address after the record's cursor, wrapping; .0, the gateway (.1) and the
 * broadcast address are never handed out.
 */
export function pickAddress(net: NetworkRecord): { address: string; nextHost: number } {
  const subnet = parseCidr(net.subnet);
  const hosts = size(subnet);
  const used = new Set(Object.values(net.leases).map((l) => ipToInt(l.address) - subnet.base));
  const first = 2;
  const last = hosts - 2;
  const start = net.nextHost >= first && net.nextHost <= last ? net.nextHost : first;
  for (let i = 0; i <= last - first; i++) {
    const h = first + ((start - first + i) % (last - first + 1));
    if (!used.has(h)) return { address: intToIp(subnet.base + h), nextHost: h + 1 > last ? first : h + 1 };
  }
  throw new VesselError('E_NETWORK', `network ${net.name}: all ${last - first + 1} addresses of ${net.subnet} are leased`, {
    hint: 'stop containers on it, or create a larger network with --subnet',
  });
}

/**
 * Record a lease (replacing one of the same container) and advance the cursor. On a dual-stack
 * network the IPv6 address has the IPv4 address's host number (10.77.0.5 ↔ fd…::5): unique
 * because the IPv4 one is, and a reader of `ip addr` sees at once which two belong together.
 */
export function addLease(net: NetworkRecord, lease: Omit<Lease, 'address' | 'address6'>): Lease {
  delete net.leases[lease.container];
  const { address, nextHost } = pickAddress(net);
  const full: Lease = { ...lease, address };
  if (net.subnet6 !== undefined) {
    full.address6 = hostAddress6(parseCidr6(net.subnet6), ipToInt(address) - parseCidr(net.subnet).base);
  }
  net.leases[lease.container] = full;
  net.nextHost = nextHost;
  return full;
}

/** `ip -j -4 route show table all` → routes with a destination (not default, not multicast). */
export function parseRoutes(json: string): HostRoute[] {
  const rows = JSON.parse(json || '[]') as Array<{ dst?: string; dev?: string; type?: string }>;
  const out: HostRoute[] = [];
  for (const r of rows) {
    if (!r.dst || r.dst === 'default' || r.type === 'multicast') continue;
    const dst = r.dst.includes('/') ? r.dst : `${r.dst}/32`;
    const m = /^([0-9.]+)\/(\d+)$/.exec(dst);
    if (!m) continue;
    const prefix = Number(m[2]);
    const base = prefix === 0 ? 0 : (ipToInt(m[1]!) & ((0xffffffff << (32 - prefix)) >>> 0)) >>> 0;
    // 127/8 and the like are never in a private pool; keep them anyway, overlap decides.
    out.push({ dst: { base, prefix }, dev: r.dev ?? '?' });
  }
  return out;
}

/* ---------------------------------------------------------------- IPv6 */

/** An IPv6 host route as far as overlap goes. */
export interface HostRoute6 {
  dst: Cidr6;
  dev: string;
}

/**
 * A random /48 of fd00::/8, as RFC 4193 3.2 asks of a Unique Local prefix ("fd" + a 40-bit
 * pseudo-random Global ID): one per host (state directory), so two vessel hosts joined by a VPN
 * or two test roots on one host do not hand out the same addresses.
 */
export function ulaPrefixFrom(random: Buffer): Cidr6 {
  if (random.length < 5) throw new VesselError('E_NETWORK', 'ULA prefix: 5 random bytes needed');
  const globalId = random.subarray(0, 5).reduce((acc, b) => (acc << 8n) | BigInt(b), 0n);
  return { base: (0xfdn << 120n) | (globalId << 80n), prefix: 48 };
}

function routeOrNetClash6(candidate: Cidr6, networks: NetworkRecord[], routes: HostRoute6[]): string | undefined {
  for (const n of networks) {
    if (n.subnet6 !== undefined && overlaps6(parseCidr6(n.subnet6), candidate)) return `network ${n.name} (${n.subnet6})`;
  }
  for (const r of routes) if (overlaps6(r.dst, candidate)) return `${formatCidr6(r.dst)}, routed on this host via ${r.dev}`;
  return undefined;
}

/**
 * The network's /64 of the host's ULA prefix: subnet id = the first 16 bits of a hash of its
 * name, so a network removed and created again (an automatic one, with its last container) gets
 * the same subnet and its names keep their addresses; the next free id when that one is taken by
 * a vessel network or anything routed on the host.
 */
export function pickSubnet6(ula: Cidr6, name: string, networks: NetworkRecord[], routes: HostRoute6[]): Cidr6 {
  // A /48 has 65536 /64s; a smaller prefix (VESSEL_NETWORK_ULA) fewer.
  const ids = 2 ** (64 - ula.prefix);
  const first = createHash('sha256').update(name).digest().readUInt16BE(0) % ids;
  for (let i = 0; i < ids; i++) {
    const id = BigInt((first + i) % ids);
    const candidate: Cidr6 = { base: ula.base | (id << 64n), prefix: 64 };
    if (routeOrNetClash6(candidate, networks, routes) === undefined) return candidate;
  }
  throw new VesselError('E_NETWORK', `IPv6 prefix ${formatCidr6(ula)}: no free /64 left`, { hint: 'remove unused networks (vessel network rm)' });
}

/**
 * An explicit IPv6 --subnet must overlap no vessel network and no host route, and hold as many
 * addresses as the IPv4 subnet (a container's IPv6 host number is its IPv4 one).
 */
export function checkSubnet6Free(subnet6: Cidr6, subnet4: Cidr, networks: NetworkRecord[], routes: HostRoute6[]): void {
  const shown = formatCidr6(subnet6);
  if (hostBits6(subnet6) < 32 - subnet4.prefix) {
    throw new VesselError('E_USAGE', `--subnet ${shown}: smaller than the IPv4 subnet ${formatCidr(subnet4)} (a container's IPv6 address has its IPv4 host number)`, {
      hint: `use /${96 + subnet4.prefix} or larger (a /64 is usual)`,
    });
  }
  const clash = routeOrNetClash6(subnet6, networks, routes);
  if (clash !== undefined) {
    throw new VesselError('E_NETWORK', `--subnet ${shown}: overlaps ${clash}`, {
      hint: clash.startsWith('network ') ? 'pick a free range, or omit the IPv6 --subnet to get one automatically' : 'pick a range no interface of the host uses (ip -6 route show table all)',
    });
  }
}

export function gateway6Of(subnet6: Cidr6): string {
  return hostAddress6(subnet6, 1);
}

/**
 * `ip -j -6 route show table all` → routes a subnet must not overlap: every destination but the
 * default route, multicast and link-local (fe80::/64 is on every interface and never in a ULA).
 */
export function parseRoutes6(json: string): HostRoute6[] {
  const rows = JSON.parse(json || '[]') as Array<{ dst?: string; dev?: string; type?: string }>;
  const out: HostRoute6[] = [];
  for (const r of rows) {
    if (!r.dst || r.dst === 'default' || r.type === 'multicast') continue;
    const dst = networkOf6(r.dst, { bare: true });
    if (dst === undefined || dst.prefix === 0 || (dst.base >> 118n) === 0x3fan) continue; // junk; ::/0 spelled out; fe80::/10
    out.push({ dst, dev: r.dev ?? '?' });
  }
  return out;
}

