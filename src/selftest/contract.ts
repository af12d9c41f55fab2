import { host, setHostRunner } from '../util/index.js';
import type { DoctorReport } from '../doctor/index.js';
import type { BindMount, ContainerConfig, Driver, HostOs, Resource, ResourceKind, RuntimeNetwork } from '../runtime/index.js';
import type { PortPublish } from '../spec/index.js';

/**
 * The driver contract: what a user relies on from a container, whatever the OS. One list of
 * cases, run by three callers — the unit test against the model FreeBSD host, the integration
 * test against the real Linux kernel, and `vessel selftest` against the live host a user has — so
 * a user's report and CI mean the same thing by "pass".
 */
export interface ContractHost {
  driver: Driver;
  /** Resource kinds findLeftovers() must find on this host (default: every kind resources() lists). */
  discoverable?: ResourceKind[];
  stopSignal?: string;
  /** Called once a case's container runs (selftest: the SIGKILL test holds the run here). */
  afterStart?: (cfg: ContainerConfig) => Promise<void>;
  /**
   * The host directory holding vessel-probe (native/probe): mounted read-only into a case's
   * container, and run from here for the host's side of the network cases.
   */
  probeDir: string;
  /**
   * This host's features as `vessel doctor` found them: a case whose feature the host lacks is
   * SKIP with doctor's reason. Without a report every case runs.
   */
  doctor?: DoctorReport;
  /** Bridged networks for the network cases; without it they are SKIP (saying so). */
  network?: CaseNetwork;
  /**
   * Called with a case's final config before anything of its container exists, and again once its
   * network is attached (`vessel selftest` writes the container's state file: recorded first).
   */
  record?: (cfg: ContainerConfig, extra: Resource[]) => void;
}

/** A case's network: leased before its container starts, released after it. */
export interface CaseNetwork {
  attach(name: string, publish: PortPublish[]): Promise<CaseAttachment>;
  release(name: string, resources: Resource[]): Promise<void>;
  /**
   * The address this host connects to for a port published on every address: 127.0.0.1 on Linux
   * (vessel's nft output chain), the external interface's on FreeBSD (pf rdr sees no loopback).
   */
  publishAddress(): Promise<string>;
}

export interface CaseAttachment {
  network: RuntimeNetwork;
  /** The network's files (/etc/hosts, resolv.conf) where the OS bind-mounts them. */
  mounts: BindMount[];
  /** To be recorded with the container (lease, interfaces, rules). */
  resources: Resource[];
}

/** What a case's container needs of the host, by `vessel doctor` check id, or why this OS has no such feature. */
export type CaseNeeds = { checks: string[] } | { notOnThisOs: string };

export interface ContractCase {
  /** Short id; `vessel selftest` names the case's container selftest-<id>. */
  id: string;
  /** The feature a user reads in the report. */
  feature: string;
  title: string;
  needs?(os: HostOs): CaseNeeds;
  /** The case's container: the base config changed as the case needs. Pure. */
  configure?(base: ContainerConfig, h: ContractHost): ContainerConfig;
  /** The container runs on a bridged network, with these ports published. */
  network?: { publish: PortPublish[] };
  /** Throws ContractFailure (or whatever the driver threw) when the host breaks the contract. */
  run(h: ContractHost, cfg: ContainerConfig): Promise<void>;
}

export class ContractFailure extends Error {
  override name = 'ContractFailure';
}

export function check(ok: boolean, message: string): void {
  if (!ok) throw new ContractFailure(message);
}

/** Linux: only cgroups outlive a killed supervisor (processes die with it, mounts with the namespace). */
export const LINUX_DISCOVERABLE: ResourceKind[] = ['cgroup'];

/**
 * FreeBSD: every host object TypeScript made outlives a killed supervisor; processes do not (the
 * monitor's starter kills the container's when the monitor dies).
 */
export const FREEBSD_DISCOVERABLE: ResourceKind[] = ['jail-conf', 'dataset', 'mount', 'devfs-ruleset', 'interface', 'jail', 'rctl', 'portacl', 'pf-anchor'];

/**
 * FreeBSD without VIMAGE: no epair and no VNET devfs ruleset exist to be left behind (they are
 * only in the list recorded before start, which assumes a VIMAGE kernel).
 */
export const FREEBSD_NO_VIMAGE_DISCOVERABLE: ResourceKind[] = ['jail-conf', 'dataset', 'mount', 'jail', 'rctl', 'portacl', 'pf-anchor'];

/** Run fn, counting every host command (run or spawn) it issues, whatever the current runner. */
export function countHostCommands<T>(fn: () => T): { result: T; count: number } {
  const inner = host();
  let count = 0;
  const restore = setHostRunner({
    run: (argv, opts) => { count++; return inner.run(argv, opts); },
    spawn: (argv, opts) => { count++; return inner.spawn(argv, opts); },
  });
  try {
    return { result: fn(), count };
  } finally {
    restore();
  }
}
