import { join } from 'node:path';
import { bridgeName, epairNames, rdrResource, switchRdr } from '../../runtime/freebsd/index.js';
import { networkDir } from '../store.js';
import type { NetBackend } from '../backend.js';
import { ensureBridge, interfaceExists, removeBridge, removeInterface } from './bridge.js';
import { hostRoutes, hostRoutes6, ipv6Missing } from './routes.js';

export { parseNetstatRoutes, parseNetstatRoutes6, ROUTES_ARGV, ROUTES6_ARGV, INET6_FORWARDING_PROBE } from './routes.js';

/**
 * net/ on FreeBSD. One owner per host object (docs/freebsd.md, "Networking"):
 *
 * - net/ (attach.ts, network.ts, here): network records, subnets (checked against
 *   `netstat -rn`), leases, the names below — recorded before anything is created.
 * - the jail driver (runtime/freebsd) creates the network's bridge with its gateway (when
 *   missing), the container's epair (renamed at once to the names below), vessel-nat/NET and
 *   vessel-rdr/NAME (each checked with `pfctl -nf -` first), and configures the jail end with
 *   `ifconfig -j`. The module that creates each object removes it and finds it after a crash
 *   (vnet.ts the bridge and epair, pf.ts the anchors and their states). At `network rm`, or when
 *   an automatic network loses its last container, net/ asks that module (bridge.ts); it never
 *   runs ifconfig or pfctl itself.
 *
 * So ensureNetwork and applyRules have nothing to do: the bridge and the anchors
 * are the driver's steps, and pf anchors are per name, not one table to re-render. Moving
 * published ports between two running containers is the one change made here, through pf.ts
 * (switchRdr: both anchors in one pf transaction).
 */
export function freebsdBackend(): NetBackend {
  return {
    // Only reached without `names` (never here); the jail end is the epair's b side.
    containerIfName: (unique) => unique,
    names: {
      // The names the jail driver creates, checks (≤ 15 characters, no "-") and finds leftovers by.
      bridge: (network) => bridgeName(network),
      interfaces: (container) => {
        const ep = epairNames(container);
        return { host: ep.host, container: ep.jail };
      },
    },
    plumbedByDriver: true,
    hostRoutes,
    hostRoutes6,
    ipv6Missing,
    interfaceExists,
    ensureNetwork: ensureBridge,
    removeNetwork: removeBridge,
    removeInterface,
    applyRules: async () => undefined,
    // a lease that took the container's name at a reload's end keeps its run's anchor (Lease.run)
    switchPublished: (net, from, to) => switchRdr([from, to].map((l) => ({ container: l.run ?? l.container, address: l.address, ...(l.address6 !== undefined ? { address6: l.address6 } : {}), publish: l.publish })), join(networkDir(net.name), 'pf-switch')),
    // as the jail driver records its anchor (one helper): with the addresses whose states go when it is removed
    publishedResource: (_net, lease) => rdrResource(lease.run ?? lease.container, lease.address, lease.address6),
  };
}
