import { isIPv4, run } from '../../util/index.js';
import { ipToInt } from '../cidr.js';
import type { HostRoute } from '../ipam.js';

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

function entries(doc: unknown): RtEntry[] {
  const fams = (doc as { statistics?: { 'route-information'?: { 'route-table'?: { 'rt-family'?: unknown } } } })
    ?.statistics?.['route-information']?.['route-table']?.['rt-family'];
  if (!Array.isArray(fams)) return [];
  return fams.flatMap((f: { 'rt-entry'?: unknown }) => (Array.isArray(f?.['rt-entry']) ? (f['rt-entry'] as RtEntry[]) : []));
}

/** Pure: netstat's JSON → routes with a destination (not default, not IPv6, not link-local junk). */
export function parseNetstatRoutes(json: string): HostRoute[] {
  let doc: unknown;
  try {
    doc = JSON.parse(json || '{}');
  } catch {
    return [];
  }
  const out: HostRoute[] = [];
  for (const e of entries(doc)) {
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
