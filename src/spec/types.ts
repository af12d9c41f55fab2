/**
 * The container spec (DESIGN.md §4): one model, filled from an INI file (`[container]`,
 * `[network]`, `[limits]`, `[jail]`, `[security]`) or from `vessel run` flags. Everything here
 * is validated and normalized: sizes in bytes, percentages as numbers, paths absolute.
 */

export type RestartMode = 'no' | 'always' | 'on-failure';

export interface RestartPolicy {
  mode: RestartMode;
  /** on-failure:N — give up after N consecutive failures (undefined: never give up). */
  maxRetries?: number;
}

/** `all` (jail semantics, the default): the container lives while any process in it lives.
 *  `main` (docker semantics): it ends with its main command. */
export type WaitMode = 'all' | 'main';

export interface BindVolume {
  kind: 'bind';
  /** Absolute host path. */
  source: string;
  /** Absolute path inside the container. */
  target: string;
  readonly: boolean;
}

export interface TmpfsVolume {
  kind: 'tmpfs';
  target: string;
  sizeBytes?: number;
  /** Octal mode of the tmpfs root, default 1777. */
  mode?: number;
}

export type Volume = BindVolume | TmpfsVolume;

export type Protocol = 'tcp' | 'udp';

/**
 * One `-p` / `publish[]` entry, as docker reads it (go-connections nat.ParsePortSpec):
 * - `8080:80`: one host port to one container port;
 * - `8000-8010:9000-9010`: equally long ranges, port for port (hostPortEnd, containerPortEnd);
 * - `8000-8010:80`: one free port of the host range, chosen at start (hostPortEnd only);
 * - `80`, `IP::80`, `8000-8010`: a free host port per container port, chosen at start (hostPort 0).
 * A running container's lease holds the mappings with every host port chosen.
 */
export interface PortPublish {
  /**
   * Host address the redirect answers at (IPv6 without brackets, canonical). Undefined: every
   * local address of both families; `0.0.0.0`: every IPv4 address; `::`: every IPv6 address.
   */
  hostIp?: string;
  /** First host port; 0 = a free port chosen at start. */
  hostPort: number;
  /** Last host port of a range (inclusive). */
  hostPortEnd?: number;
  containerPort: number;
  /** Last container port of a range (inclusive). */
  containerPortEnd?: number;
  protocol: Protocol;
}

/** `none`: loopback only. `host`: the host's network stack. `bridge`: a named vessel network. */
export type NetworkMode = 'none' | 'host' | 'bridge';

export interface NetworkSpec {
  mode: NetworkMode;
  /** Network name when mode is bridge. */
  name?: string;
  publish: PortPublish[];
  /** Extra names this container answers to on its network. */
  aliases: string[];
}

export interface Limits {
  /** Resident memory cap (rctl memoryuse / cgroup memory). */
  memoryBytes?: number;
  /** Virtual memory cap (rctl vmemoryuse; no cgroup equivalent). */
  vmemoryBytes?: number;
  /** Process count cap (rctl maxproc / cgroup pids). */
  maxproc?: number;
  /** CPU as percent of one core: 50 = half a core, 200 = two cores (rctl pcpu / cfs quota). */
  cpuPercent?: number;
  /** Open files (rctl openfiles; RLIMIT_NOFILE on Linux). */
  openfiles?: number;
}

export interface PortAcl {
  protocol: Protocol;
  port: number;
}

export interface SecuritySpec {
  /** FreeBSD mac_portacl: let the container's (non-root) user bind these low ports. */
  portacl: PortAcl[];
  /** Linux capabilities added to / dropped from the default set (names without CAP_). */
  capAdd: string[];
  capDrop: string[];
  /** no_new_privs (Linux), default true. */
  noNewPrivileges: boolean;
}

/** [health]: a command run inside the container; non-zero = unhealthy (Nomad service check too). */
export interface HealthCheck {
  command: string[];
  intervalSec: number;
  timeoutSec: number;
  retries: number;
}

export interface ContainerSpec {
  /** The container's name: the spec file's base name, or --name. [A-Za-z0-9][A-Za-z0-9_.-]*, ≤ 64. */
  name: string;
  /** Image reference, NAME[:TAG] (TAG defaults to latest). */
  image: string;
  /** Command argv; undefined → the image's CMD. */
  command?: string[];
  /** Entrypoint argv; undefined → the image's ENTRYPOINT. */
  entrypoint?: string[];
  hostname?: string;
  /** Environment added to the image's, in order. */
  env: Array<[string, string]>;
  workdir?: string;
  /** uid[:gid] or a user name looked up in the image's /etc/passwd. */
  user?: string;
  volumes: Volume[];
  restart: RestartPolicy;
  /** Seconds between the stop signal and SIGKILL. */
  stopTimeout: number;
  stopSignal: string;
  wait: WaitMode;
  /** Seconds of healthy uptime before the Emperor is told the vassal is loyal. */
  minUptime: number;
  tty: boolean;
  interactive: boolean;
  network: NetworkSpec;
  limits: Limits;
  /** FreeBSD jail(8) parameters from [jail], checked against an allowlist. */
  jail: Record<string, string>;
  security: SecuritySpec;
  health?: HealthCheck;
  /** Parent container (hierarchical jails: the child is parent.child). */
  parent?: string;
  /** File the spec came from, for error messages; undefined for flags. */
  source?: string;
}
