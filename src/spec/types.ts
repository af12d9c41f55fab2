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

/**
 * A named volume (`data:/var/lib/db`): created on first use under the state root (a ZFS dataset
 * on a FreeBSD ZFS store) and kept when the container goes; `vessel volume rm` removes it.
 */
export interface NamedVolume {
  kind: 'named';
  /** The volume's name, [A-Za-z0-9][A-Za-z0-9_.-]{0,62}. */
  name: string;
  target: string;
  readonly: boolean;
}

export type Volume = BindVolume | TmpfsVolume | NamedVolume;

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

/**
 * What a health check runs, in docker's three forms (its image config's `Healthcheck.Test`):
 * `exec` is ["CMD", argv…] (`[health] command`), `shell` is ["CMD-SHELL", script] run by
 * /bin/sh -c (`[health] shell`, `--health-cmd`), `none` is ["NONE"]: the image's check is off
 * (`[health] disable = true`, `--no-healthcheck`).
 */
export type HealthTest =
  | { kind: 'exec'; argv: string[] }
  | { kind: 'shell'; script: string }
  | { kind: 'none' };

/** What an unhealthy container gets: ended and handled by its restart policy, or only reported. */
export type OnUnhealthy = 'restart' | 'none';

/**
 * [health] (docker's semantics, its option names): every field left out comes from the image's
 * HEALTHCHECK, then docker's defaults (DEFAULTS.health); supervise/health.ts resolves them.
 * Durations in milliseconds.
 */
export interface HealthCheck {
  test?: HealthTest;
  /** Between the end of one check and the start of the next. */
  intervalMs?: number;
  /** A check running longer is killed and counts as a failure. */
  timeoutMs?: number;
  /** Failures during this time after start do not count (a success still makes it healthy). */
  startPeriodMs?: number;
  /** Consecutive failures that make the container unhealthy. */
  retries?: number;
  onUnhealthy?: OnUnhealthy;
}

/**
 * What a dependency must be doing before the dependent starts: `started` (running) or `healthy`
 * (running and its health check passing). Undefined: `healthy` when the dependency has a health
 * check, else `started` — decided against the dependency's spec, which only the whole set knows.
 */
export type DependencyCondition = 'started' | 'healthy';

export interface Dependency {
  /** The other container's name (its spec file NAME.ini in the same directory). */
  name: string;
  condition?: DependencyCondition;
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
  /** Containers that must be started (or healthy) before this one, under `vessel up`. */
  dependsOn?: Dependency[];
  /** Parent container (hierarchical jails: the child is parent.child). */
  parent?: string;
  /** File the spec came from, for error messages; undefined for flags. */
  source?: string;
}
