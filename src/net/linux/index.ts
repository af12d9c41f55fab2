import { parseCidr } from '../cidr.js';
import { nftTableName } from '../names.js';
import { networksDir } from '../store.js';
import type { NetBackend } from '../backend.js';
import { ensureBridge, interfaceExists, removeInterface } from './bridge.js';
import { applyRuleset, renderRuleset } from './nft.js';
import { hostRoutes } from './routes.js';
import { createVeth, loopbackUp } from './veth.js';

export { renderRuleset } from './nft.js';
export { renderBridgeBatch } from './bridge.js';
export { renderHostBatch, renderContainerBatch } from './veth.js';

export function linuxBackend(): NetBackend {
  return {
    containerIfName: () => 'eth0',
    hostRoutes,
    interfaceExists: async (name) => interfaceExists(name),
    ensureNetwork: ensureBridge,
    removeNetwork: (net) => removeInterface(net.bridge),
    async plug(net, lease, pid) {
      const prefix = parseCidr(net.subnet).prefix;
      await createVeth({
        hostIf: lease.hostIf,
        containerIf: lease.containerIf,
        bridge: net.bridge,
        address: `${lease.address}/${prefix}`,
        gateway: net.gateway,
        pid,
      });
    },
    plugNone: loopbackUp,
    removeInterface,
    applyRules: (networks) => applyRuleset(renderRuleset(nftTableName(networksDir()), networks)),
  };
}
