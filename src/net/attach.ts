import { existsSync } from 'node:fs';
import { VesselError } from '../util/index.js';
import { isDynamicPublish, type ContainerSpec, type PortPublish } from '../spec/index.js';
import type { BindMount, Resource, RuntimeNetwork } from '../runtime/index.js';
import { backend, type NetBackend, type PlumbingPlan } from './backend.js';
import { nameservers, peerLines, readHostResolvConf, renderHosts, writeInPlace } from './hosts.js';
import { addLease } from './ipam.js';
import { bridgeName, nftTableName, ruleComment, vethNames } from './names.js';
import { createNetworkLocked, destroyNetworkLocked } from './network.js';
import {
  checkFamilies, checkHostAddresses, checkHostListeners, checkPublishedElsewhere, dynamicPortRange, hostListeners, resolvePublish, validatePublish,
} from './publish.js';
import { hostsPath, listNetworks, networksDir, resolvPath, saveNetwork, withNetworksLock } from './store.js';
import type { Lease, NetworkRecord } from './types.js';

/**
 * A container's life on a network, as the supervisor drives it:
 *   prepareNetwork  (before start: network on first use, address lease, names, files, DNAT rules)
 *   — the container's monitor then makes the veth, address and routes (native/linux/netlink.c)
 *   releaseNetwork  (after stop, or on leftovers: rules, interface, lease, unused auto network)
 */
export interface NetAttachment {
  network: RuntimeNetwork;
  /** To be recorded in the container's state before the monitor creates them. */
  resources: Resource[];
  mounts: BindMount[];
  /**
   * With overlapRules: the firewall rules of this lease, being applied. The networks lock is held
   * until they are, so a caller may start the container meanwhile and must await this before
   * calling it running. Rejected: the rules could not be applied (the lease is recorded; releasing
   * it cleans up).
   */
  rules?: Promise<void>;
}

function hostFiles(): BindMount[] {
  // --network host: the host's resolver and names are the right ones (127.0.0.53 works there).
  return ['/etc/hosts', '/etc/resolv.conf']
    .filter((p) => existsSync(p))
    .map((p) => ({ kind: 'bind', source: p, target: p, readonly: true }));
}

function namesOf(spec: ContainerSpec, name: string): string[] {
  return [...new Set([name, ...(spec.hostname ? [spec.hostname] : []), ...spec.network.aliases])];
}

/** The container's interface names: the backend's own (FreeBSD), else names.ts's veth names. */
function interfaceNames(b: NetBackend, name: string): { host: string; container: string } {
  if (b.names) return b.names.interfaces(name);
  const veth = vethNames(networksDir(), name);
  return { host: veth.host, container: b.containerIfName(veth.container) };
}

export function leaseResources(net: NetworkRecord, lease: Lease, b?: NetBackend): Resource[] {
  const leaseOnly: Resource = {
    kind: 'lease',
    id: lease.container,
    detail: { network: net.name, address: lease.address, ...(lease.address6 !== undefined ? { address6: lease.address6 } : {}) },
  };
  // The driver records its own interface and rules (FreeBSD): recording them here too would list them twice.
  if (b?.plumbedByDriver) return [leaseOnly];
  const out: Resource[] = [
    leaseOnly,
    { kind: 'interface', id: lease.hostIf, detail: { network: net.name, bridge: net.bridge } },
  ];
  if (lease.publish.length > 0) out.push(nftResource(net, lease.container));
  return out;
}

/** A container's DNAT rules in vessel's nft table, as its state records them. */
export function nftResource(net: NetworkRecord, container: string): Resource {
  return { kind: 'nft', id: ruleComment(container), detail: { network: net.name, table: nftTableName(networksDir()) } };
}

/**
 * `none` and `host` need nothing of net/ (their attachment is returned); `bridge` needs a named
 * network and publish rules that make sense (its name is returned). Shared by prepare and plan.
 */
function modeOf(spec: ContainerSpec, name: string): NetAttachment | string {
  const mode = spec.network.mode;
  if (mode === 'none') return { network: { mode: 'none' }, resources: [], mounts: [] };
  if (mode === 'host') return { network: { mode: 'host' }, resources: [], mounts: hostFiles() };
  const netName = spec.network.name;
  if (!netName) throw new VesselError('E_SPEC', `${spec.source ?? name}: [network] mode bridge needs a network name`);
  validatePublish(spec.network.publish, name);
  return netName;
}

export interface PrepareNetworkOptions {
  /**
   * A zero-downtime reload's next container: leased under this key beside the running one (whose
   * lease is `name`'s), named in the hosts file as the container, without published ports — they
   * move to it in one step (switchPublished), and the lease takes the name when the old one goes
   * (renameLease).
   */
  beside?: string;
  /**
   * With `beside`: the ports that move to it at the switch, for which its monitor relays what the
   * kernel cannot answer (NetBackend.relays) once it is healthy; default: what the running
   * container's lease publishes.
   */
  besidePublish?: PortPublish[];
  /** Return once the lease is made, its rules still being applied (NetAttachment.rules). */
  overlapRules?: boolean;
}

export async function prepareNetwork(spec0: ContainerSpec, name0: string, opts: PrepareNetworkOptions = {}): Promise<NetAttachment> {
  const spec: ContainerSpec = opts.beside === undefined ? spec0 : { ...spec0, network: { ...spec0.network, publish: [] } };
  const name = opts.beside ?? name0;
  const netName = modeOf(spec, name);
  if (typeof netName !== 'string') return netName;
  const b = await backend();
  await checkHostAddresses(spec.network.publish, name);
  // The rules are the slowest step (an nft process, ~25 ms); the lease is known before them. The
  // lock stays held until they are applied, but the caller gets the lease at once.
  let leased!: (v: { net: NetworkRecord; lease: Lease; relayed: PortPublish[] }) => void;
  const early = new Promise<{ net: NetworkRecord; lease: Lease; relayed: PortPublish[] }>((res) => (leased = res));
  const locked = withNetworksLock(async () => {
    let networks = await listNetworks();
    const wanted = spec.network.publish;
    // Host sockets, and the range free host ports come from, only when there is a port to check or choose.
    const listeners = wanted.length > 0 ? hostListeners() : [];
    checkPublishedElsewhere(wanted, name, networks);
    checkHostListeners(wanted, name, listeners);
    const existing = networks.find((n) => n.name === netName);
    // A network made on first use is dual-stack wherever the host runs IPv6 (network.ts): the
    // host is asked once, and only when it matters (on FreeBSD the answer is a command).
    let missing: ReturnType<NetBackend['ipv6Missing']> | undefined;
    const ipv6Missing = () => (missing ??= b.ipv6Missing());
    await checkFamilies(wanted, name, netName, async () => (existing ? existing.subnet6 !== undefined : (await ipv6Missing()) === undefined));
    const publish = wanted.some(isDynamicPublish) ? resolvePublish(wanted, name, networks, listeners, dynamicPortRange()) : wanted;
    // A lease of this name on another network is a leftover of an earlier run (names are unique).
    for (const other of networks.filter((n) => n.name !== netName && n.leases[name])) {
      delete other.leases[name];
      if (other.auto && Object.keys(other.leases).length === 0) {
        networks = networks.filter((n) => n !== other);
        await destroyNetworkLocked(other, networks, { applyRules: false });
      } else {
        saveNetwork(other);
        writeInPlace(hostsPath(other.name), renderHosts(other));
      }
    }
    let net = networks.find((n) => n.name === netName);
    if (!net) {
      net = await createNetworkLocked(netName, { auto: true, ipv6Missing }, networks);
      networks.push(net);
    } else {
      // The record may have survived a bridge that did not (a reboot): made again, idempotent.
      await b.ensureNetwork(net);
    }
    const ifs = interfaceNames(b, name);
    const lease = addLease(net, {
      container: name,
      hostIf: ifs.host,
      containerIf: ifs.container,
      publish,
      names: namesOf(spec, name0),
      leasedAt: new Date().toISOString(),
    });
    saveNetwork(net);
    writeInPlace(hostsPath(net.name), renderHosts(net));
    // The rules depend on the lease only, not on the interface the monitor makes later: apply
    // them now, always — every start re-asserts the whole table (this lease's DNAT included),
    // which also repairs it after a firewall reload flushed it.
    const relayed = opts.beside === undefined ? lease.publish : opts.besidePublish ?? net.leases[name0]?.publish ?? [];
    leased({ net, lease, relayed });
    await b.applyRules(networks);
  });
  const rules = locked.then(() => undefined);
  rules.catch(() => undefined); // awaited by the caller; never an unhandled rejection meanwhile
  // a failure before the lease was made rejects here; one after it, through `rules`
  const { net, lease, relayed } = await Promise.race([early, locked.then(() => early)]);
  if (!opts.overlapRules) await rules;
  const prefix = net.subnet.split('/')[1];
  const relays = b.relays?.(relayed, lease.address6) ?? [];
  return {
    network: {
      mode: 'bridge',
      network: net.name,
      bridge: net.bridge,
      address: `${lease.address}/${prefix}`,
      gateway: net.gateway,
      ...(lease.address6 !== undefined && net.subnet6 !== undefined
        ? { address6: `${lease.address6}/${net.subnet6.split('/')[1]}`, gateway6: net.gateway6! }
        : {}),
      hostIf: lease.hostIf,
      containerIf: lease.containerIf,
      publish: lease.publish,
      ...(relays.length > 0 ? { relays } : {}),
      // Peers only: the driver that reads these (FreeBSD) writes the container's own lines itself.
      hosts: peerLines(net, name),
      dns: nameservers(readHostResolvConf()),
    },
    resources: leaseResources(net, lease, b),
    mounts: [
      { kind: 'bind', source: hostsPath(net.name), target: '/etc/hosts', readonly: true },
      { kind: 'bind', source: resolvPath(net.name), target: '/etc/resolv.conf', readonly: true },
    ],
    ...(opts.overlapRules ? { rules } : {}),
  };
}

/**
 * After a zero-downtime reload: the next container's lease (key FROM) becomes the container's
 * (key TO), once the old one's lease is released. Records only, but the rules carry the key in
 * their comments: applied again, in one transaction. Returns the resources the lease now is.
 */
export async function renameLease(from: string, to: string): Promise<Resource[]> {
  const b = await backend();
  return withNetworksLock(async () => {
    const networks = await listNetworks();
    const out: Resource[] = [];
    for (const net of networks) {
      const lease = net.leases[from];
      if (!lease) continue;
      if (net.leases[to]) throw new VesselError('E_STATE', `network ${net.name}: ${to} still holds a lease; ${from}'s cannot take its name`);
      delete net.leases[from];
      net.leases[to] = { ...lease, container: to, run: lease.run ?? from };
      saveNetwork(net);
      writeInPlace(hostsPath(net.name), renderHosts(net));
      out.push(...leaseResources(net, net.leases[to]!, b));
    }
    await b.applyRules(networks);
    return out;
  });
}

export async function releaseNetwork(name: string, resources: Resource[]): Promise<void> {
  const mine = resources.filter((r) => r.kind === 'lease' || r.kind === 'interface' || r.kind === 'nft');
  if (mine.length === 0) return;
  const b = await backend();
  // The interface (a host veth, usually on its way out with the container's netns) and the lease
  // with its rules are independent: both host commands run at once.
  const interfaces = Promise.all(mine.filter((r) => r.kind === 'interface').map((r) => b.removeInterface(r.id)));
  const releaseLease = mine.some((r) => r.kind === 'lease');
  const touchRules = mine.some((r) => r.kind === 'nft');
  const leases = withNetworksLock(async () => {
    let networks = await listNetworks();
    // The rules are rendered from the leases: they change only if this lease's ports are still in
    // them (not withdrawn at the stop), or a network goes. Recorded rules without a lease are a
    // crash's leftover: applied again, which repairs them.
    let changed = touchRules && !networks.some((n) => n.leases[name]);
    if (releaseLease) {
      for (const net of networks) {
        const lease = net.leases[name];
        if (!lease) continue;
        delete net.leases[name];
        if (lease.publish.length > 0 && lease.withdrawn !== 'applied') changed = true;
        if (net.auto && Object.keys(net.leases).length === 0) {
          networks = networks.filter((n) => n !== net);
          // The rules are applied once, below, for every network released here.
          await destroyNetworkLocked(net, networks, { applyRules: false });
          changed = true;
          continue;
        }
        saveNetwork(net);
        writeInPlace(hostsPath(net.name), renderHosts(net));
      }
    }
    if (changed) await b.applyRules(networks);
  });
  const [a, l] = await Promise.allSettled([interfaces, leases]);
  for (const r of [a, l]) if (r.status === 'rejected') throw r.reason;
}

/**
 * A container being stopped: its published ports stop being forwarded now, while it shuts down,
 * rather than after it is gone — new connections are refused instead of reaching a process on its
 * way out, and the release that follows has no rules left to change (releaseNetwork), so a stop
 * does not wait for nft twice. Recorded before and after the rules are applied, so a crash in
 * between leaves a lease the release still applies for. A container without published ports, or
 * a backend whose rules are not the leases' (FreeBSD's driver owns its anchors), has nothing to do.
 */
export async function withdrawPublished(name: string): Promise<void> {
  const b = await backend();
  if (b.plumbedByDriver) return;
  await withNetworksLock(async () => {
    const networks = await listNetworks();
    const mine = networks.filter((n) => (n.leases[name]?.publish.length ?? 0) > 0 && n.leases[name]!.withdrawn === undefined);
    if (mine.length === 0) return;
    for (const n of mine) {
      n.leases[name]!.withdrawn = 'pending';
      saveNetwork(n);
    }
    await b.applyRules(networks);
    for (const n of mine) {
      n.leases[name]!.withdrawn = 'applied';
      saveNetwork(n);
    }
  });
}

/**
 * Leases of this container (with the interface and rules that go with them) and a host veth named
 * after it. The nft table is not scanned: it is rendered from the leases, so a rule outlives its
 * lease only until the next apply, and releasing anything applies. That keeps this scan, which
 * every start of a bridged container runs, free of host commands.
 */
export async function findNetworkLeftovers(name: string): Promise<Resource[]> {
  const out: Resource[] = [];
  const networks = await listNetworks();
  const b = await backend();
  for (const net of networks) {
    const lease = net.leases[name];
    if (lease) out.push(...leaseResources(net, lease, b));
  }
  // Where the driver plumbs, its own leftover scan finds the interface (FreeBSD: the epair).
  if (b.plumbedByDriver) return out;
  const hostIf = interfaceNames(b, name).host;
  if (!out.some((r) => r.kind === 'interface') && (await b.interfaceExists(hostIf))) out.push({ kind: 'interface', id: hostIf });
  return out;
}

/** Every lease, for `vessel gc`: release those whose container is not running. */
export async function listLeases(): Promise<Array<{ container: string; network: string; address: string; address6?: string; pid?: number }>> {
  return (await listNetworks()).flatMap((n) =>
    Object.values(n.leases).map((l) => ({
      container: l.container,
      network: n.name,
      address: l.address,
      ...(l.address6 !== undefined ? { address6: l.address6 } : {}),
      ...(l.pid ? { pid: l.pid } : {}),
    })),
  );
}

/**
 * What prepareNetwork would hand the driver, without leasing or creating anything: for `vessel
 * plan`. An existing network's bridge, gateway and prefix are read from its record; what only a
 * start knows (the leased address, a new network's subnet) is a visible `<placeholder>`.
 */
export async function planNetwork(spec: ContainerSpec, name: string): Promise<NetAttachment> {
  const netName = modeOf(spec, name);
  if (typeof netName !== 'string') return netName;
  const b = await backend();
  const net = (await listNetworks()).find((n) => n.name === netName);
  const ifs = interfaceNames(b, name);
  // A network made on first use is dual-stack where the host runs IPv6; a plan asks no host (that
  // is a command on FreeBSD) and shows the usual case.
  const dual = net ? net.subnet6 !== undefined : true;
  const relays = b.relays?.(spec.network.publish, dual ? '<address6>' : undefined) ?? [];
  return {
    network: {
      mode: 'bridge',
      network: netName,
      bridge: net?.bridge ?? b.names?.bridge(netName) ?? bridgeName(networksDir(), netName),
      address: `<address>/${net ? net.subnet.split('/')[1] : '<prefix>'}`,
      gateway: net?.gateway ?? '<gateway>',
      ...(dual ? { address6: `<address6>/${net?.subnet6?.split('/')[1] ?? '64'}`, gateway6: net?.gateway6 ?? '<gateway6>' } : {}),
      hostIf: ifs.host,
      containerIf: ifs.container,
      publish: spec.network.publish,
      ...(relays.length > 0 ? { relays } : {}),
      hosts: net ? peerLines(net) : [],
      dns: nameservers(readHostResolvConf()),
    },
    resources: [],
    mounts: [
      { kind: 'bind', source: hostsPath(netName), target: '/etc/hosts', readonly: true },
      { kind: 'bind', source: resolvPath(netName), target: '/etc/resolv.conf', readonly: true },
    ],
  };
}

/**
 * What a start does for this container's network (Linux: the monitor's netlink steps as ip batches, and the nft
 * table with its planned lease), rendered only; empty where the runtime driver plumbs the network
 * itself (FreeBSD shows it in the jail's plan).
 */
export async function planPlumbing(spec: ContainerSpec, name: string, att: NetAttachment): Promise<PlumbingPlan> {
  const rn = att.network;
  const b = await backend();
  if (rn.mode !== 'bridge' || !b.planPlug) return { files: [], commands: [] };
  const networks = await listNetworks();
  const existing = networks.find((n) => n.name === rn.network);
  const net: NetworkRecord = existing
    ? { ...existing, leases: { ...existing.leases } }
    : {
        name: rn.network, subnet: '<subnet>', gateway: rn.gateway, bridge: rn.bridge, auto: true, created: '<now>', nextHost: 0, leases: {},
        ...(rn.gateway6 !== undefined ? { subnet6: '<subnet6>/64', gateway6: rn.gateway6 } : {}),
      };
  net.leases[name] = {
    container: name,
    address: '<address>',
    ...(rn.address6 !== undefined ? { address6: '<address6>' } : {}),
    hostIf: rn.hostIf,
    containerIf: rn.containerIf,
    publish: rn.publish,
    names: namesOf(spec, name),
    leasedAt: '<now>',
  };
  return b.planPlug(net, net.leases[name], [...networks.filter((n) => n !== existing), net], existing !== undefined && (await b.interfaceExists(net.bridge)));
}
