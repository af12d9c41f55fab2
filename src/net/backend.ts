import { VesselError } from '../util/index.js';
import type { HostRoute, HostRoute6 } from './ipam.js';
import type { PortRelay, Resource } from '../runtime/index.js';
import type { PortPublish } from '../spec/index.js';
import type { Lease, NetworkRecord } from './types.js';

/**
 * What net/ asks of the host OS. Records, leases, names and hosts files are the same everywhere;
 * bridges, interfaces and firewall rules are per OS. Linux is linux/index.ts; FreeBSD is
 * freebsd/index.ts (where the jail driver does most of the plumbing, see there).
 */
export interface NetBackend {
  /** The name of the container's end inside the container, given a name unique on the host. */
  containerIfName(uniqueName: string): string;
  /**
   * Names the host OS's runtime derives itself, replacing names.ts's: on FreeBSD the jail driver
   * creates the bridge and the epair under these names at each start and finds an epair left by a
   * crashed run by the name it derives from the container name, so net/ must hand it exactly those.
   */
  names?: {
    bridge(network: string): string;
    interfaces(container: string): { host: string; container: string };
  };
  /**
   * The runtime driver creates, records and removes the container's interface and firewall rules
   * itself (FreeBSD: epair and pf anchors are steps of the jail's start). A lease is then the only
   * resource net/ records for a container, and net/ does not scan for its interface.
   */
  plumbedByDriver?: boolean;
  hostRoutes(): Promise<HostRoute[]>;
  hostRoutes6(): Promise<HostRoute6[]>;
  /**
   * Why this host's networks cannot be dual-stack (IPv6 compiled out or disabled; on FreeBSD, IPv6
   * forwarding off, which vessel does not change), or undefined when they can. Automatic networks
   * are dual-stack only then; asking for IPv6 explicitly fails with this reason.
   */
  ipv6Missing(): Promise<{ why: string; hint: string } | undefined>;
  /**
   * The published ports of a lease (its container at `address6`) that the kernel cannot answer on
   * this host and the container's monitor relays in userland (Linux with br_netfilter: the host's
   * ::1, linux/relay.ts); none elsewhere.
   */
  relays?(publish: readonly PortPublish[], address6: string | undefined): PortRelay[];
  /** Async: on FreeBSD the answer is a command (ifconfig NAME). */
  interfaceExists(name: string): Promise<boolean>;
  /** Bridge with the gateway address; idempotent. True when it had to be created. */
  ensureNetwork(net: NetworkRecord): Promise<boolean>;
  removeNetwork(net: NetworkRecord): Promise<void>;
  removeInterface(name: string): Promise<void>;
  /** Make the firewall say exactly what these records say (NAT per network, DNAT per lease). */
  applyRules(networks: NetworkRecord[]): Promise<void>;
  /**
   * Where the rules are per container rather than one table rendered from all records (FreeBSD's
   * rdr anchors): move published ports between two leases of `net` in one atomic step, the
   * leases already as they are to be. Without it, applyRules is that step.
   */
  switchPublished?(net: NetworkRecord, from: Lease, to: Lease): Promise<void>;
  /** The resource a lease's published ports are on the host, when the backend names them itself (FreeBSD's rdr anchor). */
  publishedResource?(net: NetworkRecord, lease: Lease): Resource;
  /**
   * For `vessel plan`: what the container's monitor does for this lease (as the equivalent `ip`
   * commands) and what applyRules() runs, rendered and not run (none where the runtime driver
   * plumbs the network itself and shows that in its own plan).
   */
  planPlug?(net: NetworkRecord, lease: Lease, networks: NetworkRecord[], bridgeExists: boolean): PlumbingPlan;
}

/** Rendered host commands: each stdin text as a file, then the commands in order. */
export interface PlumbingPlan {
  files: Array<{ path: string; content: string }>;
  commands: string[][];
}

/** Set by tests (setNetBackend); otherwise one backend per OS, so a plan for the other OS gets its own. */
let current: NetBackend | undefined;
const byOs = new Map<string, NetBackend>();

/** The backend of the OS the runtime drives (hostOs(): the platform, or the VESSEL_OS test seam). */
export async function backend(): Promise<NetBackend> {
  if (current) return current;
  const { hostOs } = await import('../util/index.js');
  const os = hostOs();
  const known = byOs.get(os);
  if (known) return known;
  let b: NetBackend;
  if (os === 'linux') b = (await import('./linux/index.js')).linuxBackend();
  else if (os === 'freebsd') b = (await import('./freebsd/index.js')).freebsdBackend();
  else throw new VesselError('E_UNSUPPORTED', `bridge networks: no backend for ${String(os)}`);
  byOs.set(os, b);
  return b;
}

export function setNetBackend(b: NetBackend | undefined): void {
  current = b;
}
