import { parseCidr } from '../cidr.js';
import { nftTableName } from '../names.js';
import { networksDir } from '../store.js';
import type { NetBackend } from '../backend.js';
import type { Lease, NetworkRecord } from '../types.js';
import { ensureBridge, interfaceExists, removeInterface } from './bridge.js';
import { applyRuleset, renderRuleset } from './nft.js';
import { loopbackRelays } from './relay.js';
import { hostRoutes, hostRoutes6 } from './routes.js';
import { bridgeNfCallsIp6tables, ipv6Available } from './sysctl.js';
import { renderContainerBatch, renderHostBatch, type VethPlan } from './veth.js';
import { renderBridgeBatch } from './bridge.js';

export { renderRuleset } from './nft.js';
export { renderBridgeBatch } from './bridge.js';
export { loopbackRelays } from './relay.js';
export { renderHostBatch, renderContainerBatch } from './veth.js';

function vethPlan(net: NetworkRecord, lease: Lease, pid: number | string): VethPlan {
  const prefix = net.subnet.startsWith('<') ? '<prefix>' : String(parseCidr(net.subnet).prefix);
  return {
    hostIf: lease.hostIf,
    containerIf: lease.containerIf,
    bridge: net.bridge,
    address: `${lease.address}/${prefix}`,
    gateway: net.gateway,
    ...(lease.address6 !== undefined && net.subnet6 !== undefined && net.gateway6 !== undefined
      ? { address6: `${lease.address6}/${net.subnet6.split('/')[1]}`, gateway6: net.gateway6 }
      : {}),
    pid,
  };
}

function ruleset(networks: NetworkRecord[]): string {
  return renderRuleset(nftTableName(networksDir()), networks, { loopback6: !bridgeNfCallsIp6tables() });
}

export function linuxBackend(): NetBackend {
  return {
    containerIfName: () => 'eth0',
    hostRoutes,
    hostRoutes6,
    ipv6Missing: async () => (ipv6Available() ? undefined : {
      why: 'IPv6 is disabled on this host (net.ipv6.conf.all/default.disable_ipv6, or ipv6.disable=1)',
      hint: 'create the network with --ipv6=false, or enable IPv6 on the host',
    }),
    // the sysctl is read only when some mapping would be relayed (a dual-stack lease publishing on ::1)
    relays: (publish, address6) => {
      const relays = loopbackRelays(publish, address6);
      return relays.length > 0 && bridgeNfCallsIp6tables() ? relays : [];
    },
    interfaceExists: async (name) => interfaceExists(name),
    ensureNetwork: ensureBridge,
    removeNetwork: (net) => removeInterface(net.bridge),
    removeInterface,
    applyRules: (networks) => applyRuleset(ruleset(networks)),
    planPlug(net, lease, networks, bridgeExists) {
      const veth = vethPlan(net, lease, '<pid>');
      const files = [
        ...(bridgeExists ? [] : [{ path: `ip -batch - (bridge ${net.bridge}, created on first use)`, content: renderBridgeBatch(net) }]),
        // made by the container's monitor with netlink calls (native/linux/netlink.c); shown as the same steps in ip's words
        { path: 'netlink, by the monitor: host end (as ip -batch)', content: renderHostBatch(veth) },
        { path: 'netlink, by the monitor: container end (as ip -batch)', content: renderContainerBatch(veth) },
        { path: 'nft -f - (the whole vessel table, one transaction)', content: ruleset(networks) },
      ];
      const commands = [
        ...(bridgeExists ? [] : [['ip', '-batch', '-']]),
        ['nft', '-f', '-'],
      ];
      return { files, commands };
    },
  };
}
