import { randomBytes } from 'node:crypto';
import { readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { VesselError, config, readJsonFile, writeJsonAtomic, withLock, hasErrno, formatCidr6, parseCidr6, type Cidr6 } from '../util/index.js';
import { ulaPrefixFrom } from './ipam.js';
import type { NetworkRecord } from './types.js';

/**
 * Network records on disk: <networks>/<name>/network.json (with its leases), hosts, resolv.conf.
 * Every change to any record happens under one lock for all networks: choosing a subnet must see
 * every network, and a lease is a few milliseconds of work, so one lock costs nothing and rules
 * out two containers (or two networks) ever getting the same address.
 */
export function networksDir(): string {
  return config().networks;
}

export function networkDir(name: string): string {
  return join(networksDir(), name);
}

export function recordPath(name: string): string {
  return join(networkDir(name), 'network.json');
}

export function hostsPath(name: string): string {
  return join(networkDir(name), 'hosts');
}

export function resolvPath(name: string): string {
  return join(networkDir(name), 'resolv.conf');
}

export function withNetworksLock<T>(fn: () => Promise<T>): Promise<T> {
  return withLock(join(config().run, 'locks', 'networks.lock'), fn, { what: 'the network records', timeoutMs: 60_000 });
}

export async function readNetwork(name: string): Promise<NetworkRecord | undefined> {
  return readJsonFile<NetworkRecord>(recordPath(name));
}

export async function listNetworks(): Promise<NetworkRecord[]> {
  let entries: string[];
  try {
    entries = readdirSync(networksDir());
  } catch (e) {
    if (hasErrno(e, 'ENOENT')) return [];
    throw e;
  }
  const out: NetworkRecord[] = [];
  for (const entry of entries.sort()) {
    if (entry.startsWith('.')) continue;
    const rec = await readNetwork(entry);
    if (rec) out.push(rec);
  }
  return out;
}

export function saveNetwork(rec: NetworkRecord): void {
  writeJsonAtomic(recordPath(rec.name), rec);
}

export function deleteNetworkFiles(name: string): void {
  rmSync(networkDir(name), { recursive: true, force: true });
}

/**
 * The host's ULA /48 (ipam.ts ulaPrefixFrom), drawn once and kept in <networks>/.ula.json, so every
 * automatic IPv6 subnet of this host comes from it. Called under withNetworksLock.
 */
export async function ulaPrefix(env: NodeJS.ProcessEnv = process.env): Promise<Cidr6> {
  // An admin's own prefix (several hosts sharing routes, or a delegated one): VESSEL_NETWORK_ULA.
  if (env.VESSEL_NETWORK_ULA) return ulaFromEnv(env.VESSEL_NETWORK_ULA);
  const path = join(networksDir(), '.ula.json');
  const kept = await readJsonFile<{ prefix: string }>(path);
  if (kept) return parseCidr6(kept.prefix, path);
  const drawn = ulaPrefixFrom(randomBytes(5));
  writeJsonAtomic(path, { prefix: formatCidr6(drawn) });
  return drawn;
}

/** VESSEL_NETWORK_ULA: a prefix of /48 to /63, networks being /64s of it. */
function ulaFromEnv(text: string): Cidr6 {
  const c = parseCidr6(text, 'VESSEL_NETWORK_ULA');
  if (c.prefix < 48 || c.prefix > 63) {
    throw new VesselError('E_CONFIG', `VESSEL_NETWORK_ULA=${text}: expected a /48 to /63, whose /64s become networks`, { hint: 'e.g. fd12:3456:789a::/48' });
  }
  return c;
}
