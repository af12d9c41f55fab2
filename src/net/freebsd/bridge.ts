import { interfaceExists, removeEpair, removeNetworkPlumbing } from '../../runtime/freebsd/index.js';
import type { NetworkRecord } from '../types.js';

/**
 * One owner per FreeBSD host object: the jail driver (runtime/freebsd) creates a network's
 * if_bridge(4) with its gateway address, its NAT anchor vessel-nat/NET, and each container's
 * epair, so it is also the one that removes them (vnet.ts, pf.ts). net/ records the names
 * before the driver creates them (the network record names the bridge; the container's
 * resources name the epair) and, at `network rm` or when an automatic network loses its last
 * container, asks the driver's module to remove them. Nothing here runs ifconfig or pfctl.
 */
export { interfaceExists };

/**
 * Nothing to do: the bridge appears with the network's first container (see above). False:
 * nothing was created here, so there are no rules to re-assert either.
 */
export async function ensureBridge(_net: NetworkRecord): Promise<boolean> {
  return false;
}

/** The network's own plumbing, removed by the module that made it: NAT anchor (and its states), then bridge. */
export async function removeBridge(net: NetworkRecord): Promise<void> {
  await removeNetworkPlumbing(net.name, net.bridge, net.subnet, net.subnet6);
}

/** A container's epair, removed by the module that made it. */
export async function removeInterface(name: string): Promise<void> {
  await removeEpair(name);
}
