import { log } from '../util/index.js';
import type { Driver, Resource } from '../runtime/index.js';
import type { ContainerState } from './types.js';

const NET_KINDS = new Set(['lease', 'interface', 'nft']);

/** On Linux net/ owns leases, veths and nft rules; the FreeBSD driver plumbs epairs and pf itself. */
function split(driver: Driver, resources: Resource[]): { rt: Resource[]; net: Resource[] } {
  if (driver.os !== 'linux') return { rt: resources, net: resources.filter((r) => r.kind === 'lease') };
  return { rt: resources.filter((r) => !NET_KINDS.has(r.kind)), net: resources.filter((r) => NET_KINDS.has(r.kind)) };
}

/** Release runtime and network resources (the network's own code knows its kinds). */
export async function releaseResources(driver: Driver, name: string, resources: Resource[]): Promise<void> {
  const { rt, net } = split(driver, resources);
  // processes and cgroups first: interfaces vanish with the network namespace
  await driver.cleanup(rt);
  if (net.length) {
    const { releaseNetwork } = await import('../net/index.js');
    await releaseNetwork(name, net);
  }
}

/**
 * Remove whatever a previous run of this name left behind: the resources its state file recorded
 * and anything on the host named after it (a run SIGKILLed between creating and recording).
 */
export async function removeLeftovers(name: string, prev: ContainerState | undefined, driver: Driver, opts: { network?: boolean } = {}): Promise<void> {
  const recorded = prev?.resources ?? [];
  const found = await driver.findLeftovers(name);
  let net: Resource[] = [];
  // Only look for network leftovers where there can be some: the scan runs nft and ip, which a
  // plain `vessel run --network none` should not pay for.
  if (opts.network || recorded.some((r) => NET_KINDS.has(r.kind))) {
    const mod = await import('../net/index.js');
    net = await mod.findNetworkLeftovers(name);
  }
  // One entry per object: a resource may be there more than once (FreeBSD stacks a nullfs and
  // unionfs mounts on one root), so what the host shows beyond the record is added, as often.
  const all = [...recorded];
  const key = (r: Resource) => `${r.kind}\0${r.id}`;
  const seen = new Map<string, number>();
  for (const r of recorded) seen.set(key(r), (seen.get(key(r)) ?? 0) + 1);
  for (const r of [...found, ...net]) {
    const left = seen.get(key(r)) ?? 0;
    if (left > 0) seen.set(key(r), left - 1);
    else all.push(r);
  }
  if (all.length === 0) return;
  log().info({ container: name, resources: all.length }, 'removing leftovers of an earlier run');
  const { rt, net: netRes } = split(driver, all);
  await driver.cleanup(rt);
  if (netRes.length) {
    const { releaseNetwork } = await import('../net/index.js');
    await releaseNetwork(name, netRes);
  }
}
