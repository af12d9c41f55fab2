import type { Limits, OnUnhealthy, SecuritySpec, WaitMode, PortPublish } from '../spec/index.js';
import type { PlanRecord } from './plan-records.js';

/**
 * What a runtime driver needs to run one container, fully resolved by supervise/: image layers
 * are directories, the command is the final argv, the user is still a name or uid:gid (resolved
 * inside the image's own /etc/passwd by the driver).
 */
export type HostOs = 'linux' | 'freebsd';

export interface BindMount {
  kind: 'bind';
  source: string;
  target: string;
  readonly: boolean;
}

export interface TmpfsMount {
  kind: 'tmpfs';
  target: string;
  sizeBytes?: number;
  mode?: number;
}

export type Mount = BindMount | TmpfsMount;

export interface RootFs {
  /** Image layer directories, lowest (base) first. */
  layers: string[];
  /** FreeBSD on a ZFS store: the image snapshot to clone (POOL/vessel/images/ID@base). */
  zfsSnapshot?: string;
  /** ZFS dataset the clone becomes (POOL/vessel/containers/NAME). */
  zfsDataset?: string;
  /** Writable layer in memory, gone at exit (`--rm`). */
  ephemeral: boolean;
  /**
   * Where upper/ and work/ are, when not in the container's own directory: a zero-downtime
   * reload's next container writes beside the running one (overlayfs refuses a shared upper). On
   * FreeBSD the run's jail.conf, fstab and root are there too (util besideDir).
   */
  layerDir?: string;
}

/**
 * A published port the host serves in userland because the kernel cannot answer it (Linux with
 * br_netfilter: the host's [::1], docs/networking.md "IPv6 loopback"), run by the container's
 * monitor for each run: `count` ports from `port` at `listen`, each to the same offset from
 * `targetPort` at `target` (the container's address, without prefix).
 */
export interface PortRelay {
  protocol: 'tcp' | 'udp';
  listen: string;
  port: number;
  target: string;
  targetPort: number;
  count: number;
}

/** Network attachment, resolved by net/ (address leased, interface names chosen). */
export type RuntimeNetwork =
  | { mode: 'none' }
  | { mode: 'host' }
  | {
      mode: 'bridge';
      network: string;
      bridge: string;
      /** Container address with prefix, e.g. 10.77.3.5/24. */
      address: string;
      gateway: string;
      /** Dual-stack networks: IPv6 address with prefix (fd12:3456:789a:1::5/64) and the bridge's IPv6 gateway. */
      address6?: string;
      gateway6?: string;
      /** Host-side and container-side interface names (veth or epair ends). */
      hostIf: string;
      containerIf: string;
      publish: PortPublish[];
      /** Published ports the monitor relays in userland (net's backend decides; none on most hosts). */
      relays?: PortRelay[];
      /** /etc/hosts lines for the container (peers on its network). */
      hosts: string[];
      dns: string[];
    };

/**
 * A health check, resolved (spec over the image's HEALTHCHECK over docker's defaults) for whatever
 * runs it — the container's native monitor (issue 14): `argv` runs inside the container as
 * `vessel exec` would, a run longer than timeoutMs is killed and counts as a failure, `retries`
 * failures in a row make the container unhealthy; failures within startPeriodMs of the start do
 * not count.
 */
export interface HealthConfig {
  /** The check's argv (docker's CMD-SHELL is ['/bin/sh', '-c', script]). */
  argv: string[];
  intervalMs: number;
  timeoutMs: number;
  retries: number;
  startPeriodMs: number;
  onUnhealthy: OnUnhealthy;
}

export interface ContainerConfig {
  /** Instance name, unique on the host; every resource is named after it. */
  name: string;
  /** Unique per start, so every run gets fresh cgroups. */
  runId: string;
  /**
   * This run starts beside a running one of the same container (a zero-downtime reload's next run,
   * supervise/surge.ts; root.layerDir is then its own directory). Where the OS names host objects
   * after the container alone (FreeBSD: the jail, its ZFS clone, its files), this run's names carry
   * its run id too, so that both runs exist at once (docs/freebsd.md, "Two runs beside each other").
   */
  beside?: true;
  /** Per-container directory: state, upper layer, rootfs mount point, log. */
  dir: string;
  root: RootFs;
  argv: string[];
  /** K=V, final (image env + spec env). */
  env: string[];
  workdir: string;
  /** uid[:gid] or a user name from the image's /etc/passwd. */
  user: string;
  hostname: string;
  mounts: Mount[];
  limits: Limits;
  wait: WaitMode;
  tty: boolean;
  interactive: boolean;
  network: RuntimeNetwork;
  stopSignal: string;
  /** FreeBSD jail parameters (already allowlisted). */
  jail: Record<string, string>;
  security: SecuritySpec;
  /** Parent container name (FreeBSD hierarchical jails). */
  parent?: string;
  /** The health check to run, when the spec or the image has one that is not disabled. */
  health?: HealthConfig;
  /** Where the container's stdout/stderr go: the caller's terminal or a log file. */
  output: { kind: 'inherit' } | { kind: 'file'; path: string };
}

/** Kinds of host resources a container can own. */
export type ResourceKind =
  | 'dir'
  | 'mount'
  | 'cgroup'
  | 'jail'
  | 'jail-conf'
  | 'devfs-ruleset'
  | 'interface'
  | 'nft'
  | 'pf-anchor'
  | 'rctl'
  | 'portacl'
  | 'dataset'
  | 'lease'
  | 'process';

/**
 * One resource, recorded in the container's state file *before* it is created, so a crash at any
 * point leaves a list from which `vessel gc` or the next start can remove it.
 */
export interface Resource {
  kind: ResourceKind;
  /** Its name on the host: path, jail name, interface, anchor, dataset, pid … */
  id: string;
  detail?: Record<string, string>;
}

export interface ExitStatus {
  /** The main command's exit code, or 128+signal when a signal ended it. */
  code: number;
  signal?: string;
  oomKilled: boolean;
  /** Human reason: "exited 0", "killed by SIGKILL", "out of memory (limit 32 MiB)". */
  reason: string;
}

export interface StartedContainer {
  /** Host pid of the container's init (Linux) or of the jexec'd command (FreeBSD). */
  pid: number;
  /** The native monitor supervising it: its supervisor of record. */
  monitorPid: number;
  /** Resources actually created (a superset of the plan: e.g. the jid). */
  resources: Resource[];
  /** Settles once every process of the container has exited. */
  exited: Promise<ExitStatus>;
}

/** A running container, as the state file knows it. */
export interface ContainerRef {
  name: string;
  pid?: number;
  resources: Resource[];
}

export interface ExecOptions {
  argv: string[];
  env: string[];
  workdir?: string;
  user?: string;
  tty: boolean;
  interactive: boolean;
  /** The container's own security settings, applied to the new process too. */
  security?: Pick<SecuritySpec, 'capAdd' | 'capDrop' | 'noNewPrivileges'>;
}

/**
 * A container's usage at one moment. Counters are cumulative since its start; `vessel stats`
 * turns two samples into rates. Each field is present only where the host can tell it.
 */
export interface Stats {
  memoryBytes?: number;
  memoryLimitBytes?: number;
  pids?: number;
  /** The process limit (cgroup pids.max, rctl maxproc rule). */
  pidsLimit?: number;
  /** CPU time used by every process of the container. */
  cpuNanos?: number;
  /** FreeBSD: rctl's pcpu, the kernel's own %CPU of one core (a decaying average, not a counter). */
  cpuPercent?: number;
  oomKills?: number;
  /** Bytes through the container's network interfaces (its own stack; loopback not counted). */
  netRxBytes?: number;
  netTxBytes?: number;
  /** Bytes read from and written to block devices (cgroup blkio / io). */
  blockReadBytes?: number;
  blockWriteBytes?: number;
  /** FreeBSD: rctl's readbps / writebps — rates the kernel keeps, not totals. */
  blockReadBps?: number;
  blockWriteBps?: number;
}

/** What a start would do, without doing it: `vessel plan` prints it, transcript tests compare it. */
export interface Plan {
  os: HostOs;
  files: Array<{ path: string; content: string }>;
  commands: string[][];
}

/**
 * How a start is supervised. Every container runs under its native monitor
 * (native/common/monitor.c with native/linux or native/freebsd), whose plan leads with SUPERVISION
 * (rendered by supervise/: mode, restart table, status file); DETACHED lets the monitor outlive
 * the caller (`run -d`). beforeExec: called between "the container exists" and "its command runs"
 * by a driver that makes the container in TypeScript (FreeBSD: the jail and its root, before the
 * monitor starts the command; a build's RUN step lists the root there). Linux's monitor makes the
 * container and runs the command at once: that driver refuses the hook rather than skip it.
 */
export interface StartHooks {
  beforeExec?(): Promise<void>;
  supervision?: readonly PlanRecord[];
  detached?: boolean;
}

export interface Driver {
  readonly os: HostOs;
  /** Every resource start() will create, in creation order; recorded before start() runs. */
  resources(cfg: ContainerConfig): Resource[];
  /** Pure rendering of start(): files written and argv run. */
  plan(cfg: ContainerConfig): Plan;
  /** The container's records of the monitor's plan (native/common/plan.h). Pure. */
  monitorRecords(cfg: ContainerConfig): PlanRecord[];
  /**
   * Writes the monitor's whole plan (SUPERVISION first) and what it needs on disk; returns its
   * path (PLANPATH, else the container's plan). FreeBSD creates the jail and its objects here
   * (asynchronously), which release removes.
   */
  writePlan(cfg: ContainerConfig, supervision: readonly PlanRecord[], planPath?: string): string | Promise<string>;
  start(cfg: ContainerConfig, hooks?: StartHooks): Promise<StartedContainer>;
  exec(target: ContainerRef, opts: ExecOptions): Promise<number>;
  /** Signal the main command only, or every process of the container. */
  signal(target: ContainerRef, signal: string, scope: 'main' | 'all'): Promise<void>;
  /** Stop signal to every process, SIGKILL what is left after timeoutSec. */
  stop(target: ContainerRef, stopSignal: string, timeoutSec: number): Promise<void>;
  /** Remove the listed resources (reverse order); absent ones are not an error. */
  cleanup(resources: Resource[]): Promise<void>;
  /** Scan the host for resources named after this container (crash leftovers). */
  findLeftovers(name: string): Promise<Resource[]>;
  /** Names of every container that has resources on the host (for gc of containers with no state). */
  instanceNames?(): Promise<string[]>;
  /** Remove empty per-root parents (a private VESSEL_ROOT's cgroup subtree), for gc. */
  pruneParents?(): Promise<void>;
  stats(target: ContainerRef): Promise<Stats>;
}
