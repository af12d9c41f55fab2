import { VesselError } from '../util/errors.js';
import type { HostRoute } from './ipam.js';
import type { Lease, NetworkRecord } from './types.js';

/**
 * What net/ asks of the host OS. Records, leases, names and hosts files are the same everywhere;
 * bridges, interfaces and firewall rules are per OS. Linux is linux/index.ts; FreeBSD (epair,
 * if_bridge, pf anchors) plugs in here.
 */
export interface NetBackend {
  /** The name of the container's end inside the container, given a name unique on the host. */
  containerIfName(uniqueName: string): string;
  hostRoutes(): Promise<HostRoute[]>;
  interfaceExists(name: string): boolean;
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

export async function backend(): Promise<NetBackend> {
  if (current) return current;
  if (process.platform === 'linux') {
    current = (await import('./linux/index.js')).linuxBackend();
    return current;
  }
  throw new VesselError('E_UNSUPPORTED', `bridge networks: no backend for ${process.platform} yet`);
}

/** Swap the backend (the FreeBSD backend registers itself; transcript tests use a fake). */
export function setNetBackend(b: NetBackend | undefined): void {
  current = b;
}
