import type { ContainerSpec } from '../spec/index.js';

/**
 * One interface in front of every cluster engine vessel hands containers to (DESIGN.md §8).
 * vessel never places anything itself: a backend turns a spec into the engine's own job
 * (render, pure), hands it over (submit), reads the engine's view back (status) and asks the
 * engine to stop it (stop). Every node runs `vessel run --foreground` on the embedded spec.
 */
export type BackendName = 'nomad' | 'slurm';

export const BACKENDS: readonly BackendName[] = ['nomad', 'slurm'];

export type NodeOs = 'freebsd' | 'linux';

export interface RenderOptions {
  /** Instances to run: Nomad group count, Slurm array size. */
  count: number;
  /** The vessel command on the nodes (a path or a name found on the node's PATH). */
  vesselBin: string;
  /** Restrict placement to nodes of this OS; undefined: freebsd when the spec has [jail], else either. */
  os?: NodeOs;
  /** Nomad: datacenters the job may run in (default ["*"]). */
  datacenters?: string[];
  /** Nomad: MHz one core is worth when cpu = N% becomes a CPU share (default 1000). */
  mhzPerCore?: number;
  /** Slurm: --constraint feature expression. */
  constraint?: string;
  /** Slurm: --partition. */
  partition?: string;
  /** Slurm: --time, e.g. 1:00:00. */
  timeLimit?: string;
  /** Slurm: --output path pattern (default: sbatch's, slurm-%j.out in the submit directory). */
  output?: string;
}

/** What a backend's engine calls one running copy: a Nomad allocation, a Slurm job (array task). */
export interface InstanceStatus {
  /** Allocation ID / Slurm job ID. */
  id: string;
  /** The vessel instance name on the node: `<spec name>-<id>`. */
  instance: string;
  node?: string;
  state: 'pending' | 'running' | 'complete' | 'failed' | 'lost' | 'cancelled' | 'requeued';
  /** The application's exit code, once it has one. */
  exitCode?: number;
  /** Times the engine restarted or requeued it. */
  restarts: number;
  /** The engine's own words about this instance (why pending, why failed). */
  detail?: string;
}

export interface JobStatus {
  backend: BackendName;
  name: string;
  /** The engine's job state (Nomad: pending|running|dead; Slurm: the most advanced state). */
  state: string;
  instances: InstanceStatus[];
}

export interface Submission {
  backend: BackendName;
  name: string;
  /** Nomad: job ID; Slurm: the job ID sbatch returned. */
  jobId: string;
  /** Nomad: the registration's evaluation. */
  evalId?: string;
  /** Instances seen placed when submit returned. */
  instances: InstanceStatus[];
}

export interface SubmitOptions extends RenderOptions {
  /** Wait up to this long for every instance to be placed and running (0: do not wait). */
  waitMs?: number;
}

export interface StopOptions {
  /** Wait up to this long for every instance to be gone from the nodes. */
  waitMs?: number;
}

export interface StopResult {
  backend: BackendName;
  name: string;
  /** Instances that were still running when stop was asked. */
  stopped: string[];
}

export interface ClusterBackend {
  readonly name: BackendName;
  /** Pure: the engine's job (Nomad job JSON, sbatch script). Throws E_UNSUPPORTED for a spec the engine cannot express. */
  render(spec: ContainerSpec, opts: RenderOptions): string;
  submit(spec: ContainerSpec, opts: SubmitOptions): Promise<Submission>;
  status(name: string): Promise<JobStatus>;
  stop(name: string, opts?: StopOptions): Promise<StopResult>;
}

/**
 * The name `vessel run --foreground` gives the container of one engine instance (src/cli/run-action.ts,
 * clusterInstance): `<spec name>-<id>`, the Nomad allocation ID without dashes cut to 12 characters,
 * the Slurm job ID as is; the spec name is shortened so the whole stays within 63 characters.
 */
export function engineSuffix(backend: BackendName, id: string): string {
  return backend === 'nomad' ? id.replace(/-/g, '').slice(0, 12) : id;
}

export function instanceName(backend: BackendName, specName: string, id: string): string {
  const suffix = engineSuffix(backend, id);
  return `${specName.slice(0, 63 - suffix.length - 1)}-${suffix}`;
}
