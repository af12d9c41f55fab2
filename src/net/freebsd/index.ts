import { bridgeName, epairNames } from '../../runtime/freebsd/index.js';
import type { NetBackend } from '../backend.js';
import { ensureBridge, interfaceExists, removeBridge, removeInterface } from './bridge.js';
import { hostRoutes } from './routes.js';

export { parseNetstatRoutes, ROUTES_ARGV } from './routes.js';

/**
 * net/ on FreeBSD. Who does what (docs/freebsd.md, "Networking"), so that nothing is done twice:
 *
 * - net/ (attach.ts, network.ts, here): network records, subnets (checked against
 *   `netstat -rn`), leases, the names below; at `network rm`, or when an automatic network loses
 *   its last container, the network's own plumbing: NAT anchor vessel-nat/NET and bridge.
 * - the jail driver (runtime/freebsd), at every start, from the RuntimeNetwork net/ leased: the
 *   bridge with its gateway (created when missing), the epair renamed at once to the names below,
 *   vessel-nat/NET and vessel-rdr/NAME loaded (each checked with `pfctl -nf -` first), the jail
 *   end configured with `ifconfig -j`. It records the epair and the rdr anchor as the container's
 *   resources and removes them at stop and as leftovers (supervise/leftovers.ts hands it every
 *   resource but the lease).
 *
 * So ensureNetwork, plug, plugNone and applyRules have nothing to do: the bridge and the anchors
 * are the driver's steps, and pf anchors are per name, not one table to re-render.
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
    interfaceExists,
    ensureNetwork: ensureBridge,
    removeNetwork: removeBridge,
    plug: async () => undefined,
    plugNone: async () => undefined,
    removeInterface,
    applyRules: async () => undefined,
  };
}
