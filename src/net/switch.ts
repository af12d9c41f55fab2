import { VesselError } from '../util/index.js';
import { isDynamicPublish, type PortPublish } from '../spec/index.js';
import type { PortRelay, Resource } from '../runtime/index.js';
import { nftResource } from './attach.js';
import { backend } from './backend.js';
import {
  checkHostListeners, checkPublishedElsewhere, formatPublish, hostListeners, listenersBesides, validatePublish, type Listener,
} from './publish.js';
import { listNetworks, saveNetwork, withNetworksLock } from './store.js';
import type { NetworkRecord } from './types.js';

export interface SwitchOptions {
  network: string;
  /** The container whose lease holds the published ports now. */
  from: string;
  /** The container of the same network that gets them. */
  to: string;
  /**
   * What `to` publishes afterwards (its own spec's list); default: exactly what `from` publishes.
   * Every host port given: one chosen at start (`-p 80`, `8000-8010:80`) cannot be switched to.
   */
  publish?: PortPublish[];
  /**
   * Called with the host resources `to` will own, before the host changes: the caller records
   * them in `to`'s state (the rule of every resource: recorded before it is created).
   */
  record?: (resources: Resource[]) => Promise<void> | void;
}

function relaysTo(r: PortRelay, l: Listener): boolean {
  return r.protocol === l.protocol && r.listen === l.ip && l.port >= r.port && l.port < r.port + r.count;
}

/**
 * Move the published ports of one container's lease to another's on the same network in one
 * atomic step — the primitive of a zero-downtime reload (docs/health.md): a connection opened
 * before the step reaches the old container, one opened after it the new one, and none is
 * refused in between. On Linux the step is the whole nft table rendered from the records and
 * swapped in one `nft -f -` transaction (nft.ts); on FreeBSD one pf transaction over both rdr
 * anchors (runtime/freebsd/pf.ts switchRdr).
 *
 * Under the networks lock the records change first, then the host: a crash in between leaves
 * records that say where the ports belong, and the next apply makes the host say it too — on
 * Linux any start, stop or `vessel network reload` (the table is rendered from every record); on
 * FreeBSD, whose rdr anchors the jail driver loads per container, calling this again (it renders
 * both anchors from the records). A host that refuses the step gets the records back as they
 * were. Calling it again after it succeeded changes nothing on the host's behaviour.
 */
export async function switchPublished(opts: SwitchOptions): Promise<PortPublish[]> {
  const { network, from, to } = opts;
  if (from === to) throw new VesselError('E_USAGE', `switch published ports: ${from} is both the old and the new container`);
  const b = await backend();
  return withNetworksLock(async () => {
    const networks = await listNetworks();
    const net = networks.find((n) => n.name === network);
    if (!net) throw new VesselError('E_NOT_FOUND', `network ${network}: no such network`, { hint: 'vessel network ls' });
    const a = net.leases[from];
    const z = net.leases[to];
    for (const [name, lease] of [[from, a], [to, z]] as const) {
      if (!lease) throw new VesselError('E_STATE', `switch published ports on ${network}: container ${name} has no lease there`, { hint: `vessel network inspect ${network}` });
    }
    const before = { from: a!.publish, to: z!.publish };
    const moving = opts.publish ?? (a!.publish.length > 0 ? a!.publish : z!.publish);
    validatePublish(moving, to);
    // The records and the rules hold chosen host ports only: such a mapping would be recorded as
    // is and rendered as nothing (nft.ts comments it out), a port silently unpublished.
    const unchosen = moving.filter(isDynamicPublish);
    if (unchosen.length > 0) {
      throw new VesselError('E_USAGE', `switch published ports on ${network} to ${to}: ${unchosen.map(formatPublish).join(', ')} ${unchosen.length === 1 ? 'has' : 'have'} no host port yet (it is chosen at a start, not at a switch)`, {
        hint: 'give the host port (HOST:CONTAINER); a reload to host ports chosen at start is a stop-then-start',
      });
    }
    // Free of every other container's ports (the two being switched do not count) and of host
    // sockets on the ports it newly takes.
    const others = networks.map((n): NetworkRecord => n !== net ? n : { ...n, leases: Object.fromEntries(Object.entries(n.leases).filter(([k]) => k !== from && k !== to)) });
    checkPublishedElsewhere(moving, to, others);
    const listeners = listenersBesides(hostListeners(), [...before.from, ...before.to]);
    if (listeners.length > 0) {
      // The next container's own [::1] relays are bound beside, before the switch (docs/networking.md).
      const relays = b.relays?.(moving, z!.address6) ?? [];
      checkHostListeners(moving, to, listeners.filter((l) => !relays.some((r) => relaysTo(r, l))));
    }
    const resources = moving.length === 0 ? [] : [b.publishedResource?.(net, z!) ?? nftResource(net, to)];
    await opts.record?.(resources);

    a!.publish = [];
    z!.publish = moving;
    saveNetwork(net);
    try {
      if (b.switchPublished) await b.switchPublished(net, a!, z!);
      else await b.applyRules(networks);
    } catch (e) {
      // The host refused (nft and pfctl change all or nothing): the records say where the ports still are.
      a!.publish = before.from;
      z!.publish = before.to;
      saveNetwork(net);
      throw new VesselError('E_NETWORK', `switch ${moving.map(formatPublish).join(', ')} from ${from} to ${to} on ${network}: ${(e as Error).message}`, { cause: e });
    }
    return moving;
  });
}
