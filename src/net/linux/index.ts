import { nftTableName } from '../names.js';
import { networksDir } from '../store.js';
import type { NetBackend } from '../backend.js';
import { ensureBridge, interfaceExists, removeInterface } from './bridge.js';
import { applyRuleset, renderRuleset } from './nft.js';
import { hostRoutes } from './routes.js';
import { renderContainerBatch, renderHostBatch } from './veth.js';
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
    removeInterface,
    applyRules: (networks) => applyRuleset(renderRuleset(nftTableName(networksDir()), networks)),
    planPlug(net, lease, networks, bridgeExists) {
      const veth = { hostIf: lease.hostIf, containerIf: lease.containerIf, bridge: net.bridge, address: `${lease.address}/${net.subnet.split('/')[1] ?? '<prefix>'}`, gateway: net.gateway, pid: '<pid>' };
      const files = [
        ...(bridgeExists ? [] : [{ path: `ip -batch - (bridge ${net.bridge}, created on first use)`, content: renderBridgeBatch(net) }]),
        // made by the container's monitor with netlink calls (native/linux/netlink.c); shown as the same steps in ip's words
        { path: 'netlink, by the monitor: host end (as ip -batch)', content: renderHostBatch(veth) },
        { path: 'netlink, by the monitor: container end (as ip -batch)', content: renderContainerBatch(veth) },
        { path: 'nft -f - (the whole vessel table, one transaction)', content: renderRuleset(nftTableName(networksDir()), networks) },
      ];
      const commands = [
        ...(bridgeExists ? [] : [['ip', '-batch', '-']]),
        ['nft', '-f', '-'],
      ];
      return { files, commands };
    },
  };
}
