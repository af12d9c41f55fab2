import { VesselError } from '../util/index.js';
import type { HostRoute } from './ipam.js';
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
  /** Async: on FreeBSD the answer is a command (ifconfig NAME). */
  interfaceExists(name: string): Promise<boolean>;
  /** Bridge with the gateway address; idempotent. True when it had to be created. */
  ensureNetwork(net: NetworkRecord): Promise<boolean>;
  removeNetwork(net: NetworkRecord): Promise<void>;
  plug(net: NetworkRecord, lease: Lease, pid: number): Promise<void>;
  /** Loopback only (`--network none`). */
  plugNone(pid: number): Promise<void>;
  removeInterface(name: string): Promise<void>;
  /** Make the firewall say exactly what these records say (NAT per network, DNAT per lease). */
  applyRules(networks: NetworkRecord[]): Promise<void>;
}

let current: NetBackend | undefined;

/** The backend of the OS the runtime drives (hostOs(): the platform, or the VESSEL_OS test seam). */
export async function backend(): Promise<NetBackend> {
  if (current) return current;
  const { hostOs } = await import('../util/index.js');
  const os = hostOs();
  if (os === 'linux') {
    current = (await import('./linux/index.js')).linuxBackend();
    return current;
  }
  if (os === 'freebsd') {
    current = (await import('./freebsd/index.js')).freebsdBackend();
    return current;
  }
  throw new VesselError('E_UNSUPPORTED', `bridge networks: no backend for ${String(os)}`);
}

/** Swap the backend (the FreeBSD backend registers itself; transcript tests use a fake). */
export function setNetBackend(b: NetBackend | undefined): void {
  current = b;
}
