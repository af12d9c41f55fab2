import { VesselError } from '../util/index.js';
import { formatCidr, intToIp, ipToInt, overlaps, parseCidr, size, subnetsOf, type Cidr } from './cidr.js';
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

/** Record a lease (replacing one of the same container) and advance the cursor. */
export function addLease(net: NetworkRecord, lease: Omit<Lease, 'address'>): Lease {
  delete net.leases[lease.container];
  const { address, nextHost } = pickAddress(net);
  const full: Lease = { ...lease, address };
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
