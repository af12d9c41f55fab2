import { parseCidr } from '../cidr.js';
import { nftTableName } from '../names.js';
import { networksDir } from '../store.js';
import type { NetBackend } from '../backend.js';
import { ensureBridge, interfaceExists, removeInterface } from './bridge.js';
import { applyRuleset, renderRuleset } from './nft.js';
import { hostRoutes } from './routes.js';
import { createVeth, loopbackUp, renderContainerBatch, renderHostBatch } from './veth.js';
import { renderBridgeBatch } from './bridge.js';

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
    planPlug(net, lease, networks, bridgeExists) {
      const veth = { hostIf: lease.hostIf, containerIf: lease.containerIf, bridge: net.bridge, address: `${lease.address}/${net.subnet.split('/')[1] ?? '<prefix>'}`, gateway: net.gateway, pid: '<pid>' };
      const files = [
        ...(bridgeExists ? [] : [{ path: `ip -batch - (bridge ${net.bridge}, created on first use)`, content: renderBridgeBatch(net) }]),
        { path: 'ip -batch - (host end)', content: renderHostBatch(veth) },
        { path: 'nsenter -t <pid> -n ip -batch - (container end)', content: renderContainerBatch(veth) },
        { path: 'nft -f - (the whole vessel table, one transaction)', content: renderRuleset(nftTableName(networksDir()), networks) },
      ];
      const commands = [
        ...(bridgeExists ? [] : [['ip', '-batch', '-']]),
        ['nft', '-f', '-'],
        ['ip', '-batch', '-'],
        ['nsenter', '-t', '<pid>', '-n', 'ip', '-batch', '-'],
      ];
      return { files, commands };
    },
  };
}
