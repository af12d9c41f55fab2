import { run } from '../../util/host.js';
import { removeNetworkPlumbing } from '../../runtime/freebsd/index.js';
import type { NetworkRecord } from '../types.js';

/**
 * A network's if_bridge(4) with the gateway address is made by the jail driver, at every start
 * (runtime/freebsd bridgeSteps: a check, and the creation when it is missing, under the driver's
 * host lock). net/ does not make it a second time: it only removes it, with the network.
 */
export async function interfaceExists(name: string): Promise<boolean> {
  // ifconfig(8) NAME exits 1 when there is no such interface.
  return (await run(['ifconfig', name], { allowFailure: true })).exitCode === 0;
}

/**
 * Nothing to do: the bridge appears with the network's first container (see above). False:
 * nothing was created here, so there are no rules to re-assert either.
 */
export async function ensureBridge(_net: NetworkRecord): Promise<boolean> {
  return false;
}

/** The network's own plumbing: its NAT anchor vessel-nat/NAME, then its bridge. */
export async function removeBridge(net: NetworkRecord): Promise<void> {
  await removeNetworkPlumbing(net.name, net.bridge, net.subnet);
}

/** Destroying either end of an epair destroys both (epair(4)); absent is fine. */
export async function removeInterface(name: string): Promise<void> {
  if (await interfaceExists(name)) await run(['ifconfig', name, 'destroy']);
}
