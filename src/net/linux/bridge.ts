import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { run } from '../../util/index.js';
import type { NetworkRecord } from '../types.js';
import { enableForwarding, enableRouteLocalnet, setBridgeIpv6 } from './sysctl.js';

/** A network's bridge: the gateway address lives on it; every member's veth is one of its ports. */
export function interfaceExists(name: string): boolean {
  return existsSync(`/sys/class/net/${name}`);
}

/**
 * The bridge with its gateway addresses. On a dual-stack network also `local ::1 dev BRIDGE`: the
 * answer to a connection the host made to [::1]:PORT and vessel redirected to a container comes
 * back through the bridge, de-NATed to ::1 in prerouting; the kernel's input lookup for a loopback
 * destination must match the arriving device (rt6_need_strict), so without a ::1 route on the
 * bridge it is dropped (IP_INNOROUTES). The IPv6 counterpart of route_localnet, and narrower: a
 * packet that arrives with ::1 in its header is still dropped by ip6_rcv_core before any route
 * lookup. The route goes with the bridge. Its metric is the bridge's own (a hash of its name):
 * the kernel refuses a second `local ::1` of the same metric on another device (EEXIST: IPv6 makes
 * no multipath of local routes), and any metric above lo's 0 leaves the host's own ::1 on lo.
 * `nodad`: the addresses are vessel's to hand out, and a tentative gateway would delay the first
 * container's traffic by a second.
 */
export function renderBridgeBatch(net: NetworkRecord): string {
  const prefix = net.subnet.split('/')[1];
  const v6 = net.subnet6 !== undefined && net.gateway6 !== undefined;
  return [
    `link add ${net.bridge} type bridge`,
    `addr add ${net.gateway}/${prefix} dev ${net.bridge}`,
    ...(v6 ? [`addr add ${net.gateway6}/${net.subnet6!.split('/')[1]} dev ${net.bridge} nodad`] : []),
    `link set ${net.bridge} up`,
    ...(v6 ? [`route add local ::1 dev ${net.bridge} table local metric ${loopbackRouteMetric(net.bridge)}`] : []),
  ].join('\n') + '\n';
}

/** 1024 and up, one per bridge name (two bridges sharing one is a 2^-30 chance). */
export function loopbackRouteMetric(bridge: string): number {
  return 1024 + (createHash('sha256').update(bridge).digest().readUInt32BE(0) % 2 ** 30);
}

/** Create the bridge unless it exists (true when created); sysctls are idempotent, set either way. */
export async function ensureBridge(net: NetworkRecord): Promise<boolean> {
  const created = !interfaceExists(net.bridge);
  if (created) await run(['ip', '-batch', '-'], { input: renderBridgeBatch(net) });
  enableRouteLocalnet(net.bridge);
  setBridgeIpv6(net.bridge, net.subnet6 !== undefined);
  enableForwarding();
  return created;
}

/** Deleting a bridge detaches its ports; absent is fine. */
export async function removeInterface(name: string): Promise<void> {
  if (!interfaceExists(name)) return;
  const r = await run(['ip', 'link', 'del', 'dev', name], { allowFailure: true });
  // Gone meanwhile (a veth dies with its netns) is the outcome we wanted.
  if (r.exitCode !== 0 && interfaceExists(name)) await run(['ip', 'link', 'del', 'dev', name]);
}
