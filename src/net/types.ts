import type { PortPublish } from '../spec/index.js';

/** One container's place on a network, keyed by container name (names are unique on a host). */
export interface Lease {
  container: string;
  /** Dotted address without prefix, e.g. 10.77.0.2. */
  address: string;
  /** IPv6 address without prefix on a dual-stack network: the subnet6 address with the same host number. */
  address6?: string;
  hostIf: string;
  containerIf: string;
  publish: PortPublish[];
  /** Names this address answers to in the network's hosts file: container name, hostname, aliases. */
  names: string[];
  /** Host pid of the container's init once plugged; informative (pids are reused). */
  pid?: number;
  leasedAt: string;
  /**
   * The container is being stopped and its published ports are no longer forwarded (attach.ts
   * withdrawPublished): 'pending' while the rules are applied without them, 'applied' once they
   * are. Only 'applied' lets the release skip the rules (they already lack this lease's).
   */
  withdrawn?: 'pending' | 'applied';
  /**
   * The key it was leased under when it took the container's name later (a zero-downtime reload's
   * next run, renameLease): host objects a backend names after the lease when it creates them
   * (FreeBSD's rdr anchor `vessel-rdr/NAME@RUNID`) keep that name for the run's life.
   */
  run?: string;
}

/** A named network, as stored in <networks>/<name>/network.json. */
export interface NetworkRecord {
  name: string;
  /** e.g. 10.77.0.0/24 */
  subnet: string;
  gateway: string;
  /** IPv6 subnet (a /64 of the host's ULA prefix unless given); absent: IPv4 only (--ipv6=false). */
  subnet6?: string;
  gateway6?: string;
  bridge: string;
  /** Created on first use by a container (not by `network create`): removed with its last container. */
  auto: boolean;
  created: string;
  /** Host number the next lease starts searching from, so a freed address is not reused at once
   *  (peers may still hold it in their ARP caches). */
  nextHost: number;
  leases: Record<string, Lease>;
}

/** What `network ls` / `inspect` show. */
export interface NetworkInfo {
  name: string;
  subnet: string;
  gateway: string;
  subnet6?: string;
  gateway6?: string;
  bridge: string;
  auto: boolean;
  created: string;
  containers: Array<{ name: string; address: string; address6?: string; publish: string[] }>;
  hostsFile: string;
  resolvConf: string;
}
