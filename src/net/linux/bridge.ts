import { existsSync } from 'node:fs';
import { run } from '../../util/index.js';
import type { NetworkRecord } from '../types.js';
import { enableForwarding, enableRouteLocalnet } from './sysctl.js';

/** A network's bridge: the gateway address lives on it; every member's veth is one of its ports. */
export function interfaceExists(name: string): boolean {
  return existsSync(`/sys/class/net/${name}`);
}

export function renderBridgeBatch(net: NetworkRecord): string {
  const prefix = net.subnet.split('/')[1];
  return [
    `link add ${net.bridge} type bridge`,
    `addr add ${net.gateway}/${prefix} dev ${net.bridge}`,
    `link set ${net.bridge} up`,
  ].join('\n') + '\n';
}

/** Create the bridge unless it exists (true when created); sysctls are idempotent, set either way. */
export async function ensureBridge(net: NetworkRecord): Promise<boolean> {
  const created = !interfaceExists(net.bridge);
  if (created) await run(['ip', '-batch', '-'], { input: renderBridgeBatch(net) });
  enableRouteLocalnet(net.bridge);
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
