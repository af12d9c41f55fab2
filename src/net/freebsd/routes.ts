import { isIPv4, networkOf6, run } from '../../util/index.js';
import { ipToInt } from '../cidr.js';
import type { HostRoute, HostRoute6 } from '../ipam.js';

/**
 * The host's IPv4 routes, from netstat(1) with libxo (`netstat -rn -f inet --libxo json`):
 * {"statistics": {"route-information": {"route-table": {"rt-family": [{"address-family": "Internet",
 *   "rt-entry": [{"destination": "10.0.1.0/24", "gateway": "link#2", "flags": "U", "interface-name": "em0"}, …]}]}}}}
 * A destination without a prefix is a host route (/32).
 */
export const ROUTES_ARGV = ['netstat', '-rn', '-f', 'inet', '--libxo', 'json'];

interface RtEntry {
  destination?: unknown;
  'interface-name'?: unknown;
}

/** netstat's JSON text → its route entries; broken or empty text is no routes, not a crash. */
function entries(json: string): RtEntry[] {
  let doc: unknown;
  try {
    doc = JSON.parse(json || '{}');
  } catch {
    return [];
  }
  const fams = (doc as { statistics?: { 'route-information'?: { 'route-table'?: { 'rt-family'?: unknown } } } })
    ?.statistics?.['route-information']?.['route-table']?.['rt-family'];
  if (!Array.isArray(fams)) return [];
  return fams.flatMap((f: { 'rt-entry'?: unknown }) => (Array.isArray(f?.['rt-entry']) ? (f['rt-entry'] as RtEntry[]) : []));
}

/** Pure: netstat's JSON → routes with a destination (not default, not IPv6, not link-local junk). */
export function parseNetstatRoutes(json: string): HostRoute[] {
  const out: HostRoute[] = [];
  for (const e of entries(json)) {
    if (typeof e.destination !== 'string' || e.destination === 'default') continue;
    const [addr = '', len] = e.destination.split('/');
    // Classful shorthand (`10.5/16`) from older netstat: the missing octets are zeros.
    const parts = addr.split('.');
    while (parts.length < 4 && parts.length > 0) parts.push('0');
    const ip = parts.join('.');
    const prefix = len === undefined ? 32 : Number(len);
    if (!isIPv4(ip) || !Number.isInteger(prefix) || prefix < 0 || prefix > 32) continue;
    const mask = prefix === 0 ? 0 : (0xffffffff << (32 - prefix)) >>> 0;
    out.push({ dst: { base: (ipToInt(ip) & mask) >>> 0, prefix }, dev: typeof e['interface-name'] === 'string' ? e['interface-name'] : '?' });
  }
  return out;
}

export async function hostRoutes(): Promise<HostRoute[]> {
  return parseNetstatRoutes((await run(ROUTES_ARGV)).stdout);
}

/** The same for IPv6: `netstat -rn -f inet6 --libxo json` (address-family "Internet6"). */
export const ROUTES6_ARGV = ['netstat', '-rn', '-f', 'inet6', '--libxo', 'json'];

/**
 * Pure: netstat's inet6 JSON → routes with a destination. netstat(1) prints link-local and
 * multicast destinations with a zone (`fe80::%lo0/64`, `ff02::%em0/16`); those are never in a
 * ULA and are skipped, as are `default` and `::/96`-style special ones that parse to nothing.
 */
export function parseNetstatRoutes6(json: string): HostRoute6[] {
  const out: HostRoute6[] = [];
  for (const e of entries(json)) {
    if (typeof e.destination !== 'string' || e.destination === 'default' || e.destination.includes('%')) continue;
    const dst = networkOf6(e.destination, { bare: true });
    if (dst === undefined || dst.prefix === 0) continue;
    out.push({ dst, dev: typeof e['interface-name'] === 'string' ? e['interface-name'] : '?' });
  }
  return out;
}

export async function hostRoutes6(): Promise<HostRoute6[]> {
  return parseNetstatRoutes6((await run(ROUTES6_ARGV)).stdout);
}

/**
 * Dual-stack networks need the kernel's INET6 and IPv6 routing between the bridge and the
 * outside: net.inet6.ip6.forwarding (rc.conf ipv6_gateway_enable). vessel checks it as it checks
 * net.inet.ip.forwarding, and does not set it: with forwarding on, FreeBSD stops taking router
 * advertisements on the host's own interfaces (unless net.inet6.ip6.rfc6204w3), which is the
 * admin's choice to make. The oid exists only with INET6 (netinet6/in6_proto.c).
 */
export const INET6_FORWARDING_PROBE = ['sysctl', '-n', 'net.inet6.ip6.forwarding'];

export async function ipv6Missing(): Promise<{ why: string; hint: string } | undefined> {
  const r = await run(INET6_FORWARDING_PROBE, { allowFailure: true });
  if (r.exitCode !== 0) return { why: 'this kernel has no IPv6 (no net.inet6 sysctls: INET6 is not compiled in)', hint: 'create the network with --ipv6=false' };
  if (r.stdout.trim() !== '1') {
    return {
      why: 'IPv6 forwarding is off (net.inet6.ip6.forwarding=0), so a dual-stack network\'s IPv6 would reach neither the outside nor published ports',
      hint: 'sysrc ipv6_gateway_enable=YES && sysctl net.inet6.ip6.forwarding=1 (and net.inet6.ip6.rfc6204w3=1 where the host itself takes router advertisements), or --ipv6=false',
    };
  }
  return undefined;
}
