import { run } from '../../util/index.js';
import { interfaceExists, removeInterface } from './bridge.js';

/**
 * A container's veth pair. The container end is created directly inside the container's network
 * namespace (`peer name eth0 netns PID`), so it never exists on the host under a name that could
 * clash; the host end is named after the container and joins the bridge with hairpin on, so a
 * container can reach its own published port through the host.
 */
export interface VethPlan {
  hostIf: string;
  containerIf: string;
  bridge: string;
  /** With prefix: 10.77.0.2/24. */
  address: string;
  gateway: string;
  /** Dual-stack: with prefix, fd12:3456:789a:1::2/64, and the bridge's IPv6 address. */
  address6?: string;
  gateway6?: string;
  /** The container's init (a plan shows `<pid>`). */
  pid: number | string;
}

export function renderHostBatch(p: VethPlan): string {
  return [
    `link add ${p.hostIf} type veth peer name ${p.containerIf} netns ${p.pid}`,
    `link set ${p.hostIf} master ${p.bridge}`,
    `link set ${p.hostIf} type bridge_slave hairpin on`,
    `link set ${p.hostIf} up`,
  ].join('\n') + '\n';
}

/** `nodad`: the lease store makes the address unique, and DAD would hold it tentative for a second. */
export function renderContainerBatch(p: VethPlan): string {
  const v6 = p.address6 !== undefined && p.gateway6 !== undefined;
  return [
    `addr add ${p.address} dev ${p.containerIf}`,
    ...(v6 ? [`addr add ${p.address6} dev ${p.containerIf} nodad`] : []),
    `link set ${p.containerIf} up`,
    'link set lo up',
    `route add default via ${p.gateway}`,
    ...(v6 ? [`route add default via ${p.gateway6}`] : []),
  ].join('\n') + '\n';
}

export async function createVeth(p: VethPlan): Promise<void> {
  // A host end left by a crashed run of the same container would make `link add` fail.
  if (interfaceExists(p.hostIf)) await removeInterface(p.hostIf);
  await run(['ip', '-batch', '-'], { input: renderHostBatch(p) });
  await run(['nsenter', '-t', String(p.pid), '-n', 'ip', '-batch', '-'], { input: renderContainerBatch(p) });
}

/** Loopback only, for --network none (a fresh netns has lo down). */
export async function loopbackUp(pid: number): Promise<void> {
  await run(['nsenter', '-t', String(pid), '-n', 'ip', 'link', 'set', 'lo', 'up']);
}
