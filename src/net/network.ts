import { VesselError } from '../util/index.js';
import { backend } from './backend.js';
import { formatCidr, parseCidr } from './cidr.js';
import { readHostResolvConf, renderHosts, renderResolvConf, writeInPlace } from './hosts.js';
import { checkSubnetFree, gatewayOf, pickSubnet, poolConfig } from './ipam.js';
import { bridgeName, checkNetworkName } from './names.js';
import { formatPublish } from './publish.js';
import {
  deleteNetworkFiles, hostsPath, listNetworks, networksDir, readNetwork, resolvPath, saveNetwork, withNetworksLock,
} from './store.js';
import type { NetworkInfo, NetworkRecord } from './types.js';

/**
 * Named networks: create (explicitly, or on first use by a container), remove, list, inspect.
 * Functions named *Locked expect the caller to hold withNetworksLock().
 */

/** Create a network (record first, then its bridge, then its NAT rules). */
export async function createNetworkLocked(
  name: string,
  opts: { subnet?: string; auto: boolean },
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
  const rec: NetworkRecord = {
    name,
    subnet: formatCidr(subnet),
    gateway: gatewayOf(subnet),
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

export async function createNetwork(name: string, opts: { subnet?: string } = {}): Promise<NetworkRecord> {
  checkNetworkName(name);
  if (opts.subnet !== undefined) parseCidr(opts.subnet, '--subnet');
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
    bridge: net.bridge,
    auto: net.auto,
    created: net.created,
    containers: Object.values(net.leases)
      .sort((a, b) => a.container.localeCompare(b.container))
      .map((l) => ({ name: l.container, address: l.address, publish: l.publish.map(formatPublish) })),
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
