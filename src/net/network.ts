import { VesselError, formatCidr6, parseCidr6, type Cidr6 } from '../util/index.js';
import { backend, type NetBackend } from './backend.js';
import { formatCidr, parseCidr } from './cidr.js';
import { readHostResolvConf, renderHosts, renderResolvConf, writeInPlace } from './hosts.js';
import { checkSubnet6Free, checkSubnetFree, gateway6Of, gatewayOf, pickSubnet, pickSubnet6, poolConfig } from './ipam.js';
import { bridgeName, checkNetworkName } from './names.js';
import { formatPublish } from './publish.js';
import {
  deleteNetworkFiles, hostsPath, listNetworks, networksDir, readNetwork, resolvPath, saveNetwork, ulaPrefix, withNetworksLock,
} from './store.js';
import type { NetworkInfo, NetworkRecord } from './types.js';

/**
 * Named networks: create (explicitly, or on first use by a container), remove, list, inspect.
 * Functions named *Locked expect the caller to hold withNetworksLock().
 */

/** What `network create` (or a first use) asks for; both subnets are chosen when not given. */
export interface CreateOptions {
  /** IPv4 CIDR. */
  subnet?: string;
  /** IPv6 CIDR. */
  subnet6?: string;
  /** false: IPv4 only. Unset: dual stack wherever the host runs IPv6. */
  ipv6?: boolean;
}

interface CreateLockedOptions extends CreateOptions {
  auto: boolean;
  /** The host's answer, when the caller asked it already (a first use, attach.ts): asked once per start. */
  ipv6Missing?: NetBackend['ipv6Missing'];
}

/** The IPv6 half of a new network, or undefined for IPv4 only; throws before anything is made. */
async function chooseSubnet6(name: string, opts: CreateLockedOptions, subnet4: ReturnType<typeof parseCidr>, networks: NetworkRecord[]): Promise<Cidr6 | undefined> {
  const b = await backend();
  if (opts.ipv6 === false) {
    if (opts.subnet6 !== undefined) throw new VesselError('E_USAGE', `--subnet ${opts.subnet6}: an IPv6 subnet contradicts --ipv6=false`);
    return undefined;
  }
  const missing = await (opts.ipv6Missing ? opts.ipv6Missing() : b.ipv6Missing());
  if (missing !== undefined) {
    if (opts.subnet6 === undefined && opts.ipv6 === undefined) return undefined;
    throw new VesselError('E_UNSUPPORTED', `network ${name}: ${missing.why}`, { hint: missing.hint });
  }
  const routes = await b.hostRoutes6();
  if (opts.subnet6 !== undefined) {
    const subnet6 = parseCidr6(opts.subnet6, '--subnet');
    checkSubnet6Free(subnet6, subnet4, networks, routes);
    return subnet6;
  }
  return pickSubnet6(await ulaPrefix(), name, networks, routes);
}

/** Create a network (record first, then its bridge, then its NAT rules). */
export async function createNetworkLocked(
  name: string,
  opts: CreateLockedOptions,
  networks: NetworkRecord[],
): Promise<NetworkRecord> {
  checkNetworkName(name);
  const b = await backend();
  const bridge = b.names?.bridge(name) ?? bridgeName(networksDir(), name);
  // A bridge of ours without a record (crash, deleted state) would carry a stale address and a
  // route that hides its subnet from the pool: clear it before looking at the routes.
  if (await b.interfaceExists(bridge)) await b.removeInterface(bridge);
  const routes = await b.hostRoutes();
  let subnet;
  if (opts.subnet !== undefined) {
    subnet = parseCidr(opts.subnet, '--subnet');
    checkSubnetFree(subnet, networks, routes);
  } else {
    subnet = pickSubnet(poolConfig(), networks, routes);
  }
  const subnet6 = await chooseSubnet6(name, opts, subnet, networks);
  const rec: NetworkRecord = {
    name,
    subnet: formatCidr(subnet),
    gateway: gatewayOf(subnet),
    ...(subnet6 ? { subnet6: formatCidr6(subnet6), gateway6: gateway6Of(subnet6) } : {}),
    bridge,
    auto: opts.auto,
    created: new Date().toISOString(),
    nextHost: 2,
    leases: {},
  };
  saveNetwork(rec);
  try {
    writeInPlace(hostsPath(name), renderHosts(rec));
    writeInPlace(resolvPath(name), renderResolvConf(readHostResolvConf()));
    await b.ensureNetwork(rec);
    await b.applyRules([...networks.filter((n) => n.name !== name), rec]);
  } catch (e) {
    await b.removeInterface(bridge).catch(() => undefined);
    deleteNetworkFiles(name);
    throw e;
  }
  return rec;
}

/** `--subnet` values (at most one per family) → the IPv4 and IPv6 one. */
export function splitSubnets(subnets: readonly string[]): Pick<CreateOptions, 'subnet' | 'subnet6'> {
  const out: Pick<CreateOptions, 'subnet' | 'subnet6'> = {};
  for (const s of subnets) {
    const key = s.includes(':') ? 'subnet6' : 'subnet';
    if (out[key] !== undefined) {
      throw new VesselError('E_USAGE', `--subnet ${s}: a second ${key === 'subnet6' ? 'IPv6' : 'IPv4'} subnet (${out[key]} is given already)`, {
        hint: 'give at most one IPv4 and one IPv6 subnet',
      });
    }
    if (key === 'subnet6') parseCidr6(s, '--subnet');
    else parseCidr(s, '--subnet');
    out[key] = s;
  }
  return out;
}

export async function createNetwork(name: string, opts: CreateOptions = {}): Promise<NetworkRecord> {
  checkNetworkName(name);
  if (opts.subnet !== undefined) parseCidr(opts.subnet, '--subnet');
  if (opts.subnet6 !== undefined) parseCidr6(opts.subnet6, '--subnet');
  return withNetworksLock(async () => {
    const networks = await listNetworks();
    if (networks.some((n) => n.name === name)) {
      throw new VesselError('E_EXISTS', `network ${name}: already exists`, { hint: `vessel network inspect ${name}` });
    }
    return createNetworkLocked(name, { ...opts, auto: false }, networks);
  });
}

/** Remove a network's bridge, files and rules; `others` are the networks that remain. */
export async function destroyNetworkLocked(net: NetworkRecord, others: NetworkRecord[], opts = { applyRules: true }): Promise<void> {
  const b = await backend();
  if (opts.applyRules) await b.applyRules(others);
  await b.removeNetwork(net);
  deleteNetworkFiles(net.name);
}

export async function removeNetwork(name: string): Promise<void> {
  await withNetworksLock(async () => {
    const networks = await listNetworks();
    const net = networks.find((n) => n.name === name);
    if (!net) throw new VesselError('E_NOT_FOUND', `network ${name}: no such network`, { hint: 'vessel network ls' });
    const users = Object.keys(net.leases).sort();
    if (users.length > 0) {
      throw new VesselError('E_IN_USE', `network ${name}: in use by ${users.length === 1 ? 'container' : 'containers'} ${users.join(', ')}`, {
        hint: 'stop them first (a container that crashed is released by `vessel gc`)',
      });
    }
    await destroyNetworkLocked(net, networks.filter((n) => n !== net));
  });
}

/**
 * Make the host match the records again: bridges recreated, the nft table reloaded. For after a
 * firewall reload that flushed the whole ruleset (`nft flush ruleset`, `systemctl restart
 * nftables`), which takes vessel's table with it.
 */
export async function reloadNetworks(): Promise<NetworkRecord[]> {
  return withNetworksLock(async () => {
    const b = await backend();
    const networks = await listNetworks();
    for (const net of networks) await b.ensureNetwork(net);
    await b.applyRules(networks);
    return networks;
  });
}

function info(net: NetworkRecord): NetworkInfo {
  return {
    name: net.name,
    subnet: net.subnet,
    gateway: net.gateway,
    ...(net.subnet6 !== undefined ? { subnet6: net.subnet6, gateway6: net.gateway6! } : {}),
    bridge: net.bridge,
    auto: net.auto,
    created: net.created,
    containers: Object.values(net.leases)
      .sort((a, b) => a.container.localeCompare(b.container))
      .map((l) => ({ name: l.container, address: l.address, ...(l.address6 !== undefined ? { address6: l.address6 } : {}), publish: l.publish.map(formatPublish) })),
    hostsFile: hostsPath(net.name),
    resolvConf: resolvPath(net.name),
  };
}

export async function listNetworkInfo(): Promise<NetworkInfo[]> {
  return (await listNetworks()).map(info);
}

export async function inspectNetwork(name: string): Promise<NetworkInfo> {
  checkNetworkName(name);
  const net = await readNetwork(name);
  if (!net) throw new VesselError('E_NOT_FOUND', `network ${name}: no such network`, { hint: 'vessel network ls' });
  return info(net);
}
