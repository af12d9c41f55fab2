import type { ContainerSpec } from '../spec/index.js';
import type { ExitStatus, Resource } from '../runtime/index.js';
import type { RestartCount } from './restart.js';

/** `restarting`: a detached container waiting out its back-off before the next run. */
/** The next container of a zero-downtime reload (supervise/surge.ts). */
export interface NextRun {
  runId: string;
  spec: ContainerSpec;
  imageId: string;
  /** Its network lease's key until it takes the container's name (`NAME@RUNID`). */
  leaseKey: string;
  /** Its upper/ and work/ until they take the container's place. */
  layerDir: string;
  /**
   * The runtime keeps the run's own objects in layerDir for the run's whole life, and removes it
   * with them (FreeBSD: the jail's files and root, names.ts): it is not consumed at the switch.
   */
  keepsLayerDir?: true;
  resources: Resource[];
}

export type ContainerStatus = 'created' | 'running' | 'stopping' | 'restarting' | 'exited' | 'failed';

/** docker's health states: `starting` until the first success (or the first counted failures). */
export type HealthStatus = 'starting' | 'healthy' | 'unhealthy';

/** One run of the health check, as docker's inspect shows it (State.Health.Log). */
export interface HealthProbe {
  /** ISO times the check was started and ended. */
  start: string;
  end: string;
  /** The check's exit code; a check killed at its timeout is -1, as in docker. */
  exitCode: number;
  /** The start of its output (stdout and stderr), cut as docker cuts it. */
  output: string;
}

/**
 * The health of a running container (docker's State.Health), written into the state file by
 * whatever runs the check — the container's monitor (issue 14). `log` keeps the last
 * HEALTH_LOG_ENTRIES results, oldest first.
 */
export interface HealthState {
  status: HealthStatus;
  /** Consecutive failed checks (0 after a success). */
  failingStreak: number;
  log: HealthProbe[];
}

/** Who asked for the container: a foreground CLI, `run -d`, or the Emperor (each run by a native monitor). */
export type SupervisorMode = 'foreground' | 'detached' | 'vassal';

/**
 * The container's state file ($containers/NAME/state.json), written atomically at every change.
 * `resources` lists everything created on the host, each recorded *before* it was created.
 */
export interface ContainerState {
  name: string;
  spec: ContainerSpec;
  imageId?: string;
  status: ContainerStatus;
  mode: SupervisorMode;
  /** Pid of the container's native monitor (before it exists: the process preparing the start). */
  supervisorPid?: number;
  /** Host pid of the container's init. */
  pid?: number;
  runId: string;
  createdAt: string;
  startedAt?: string;
  finishedAt?: string;
  /** How many times the container was started again after dying (restart policy or Emperor). */
  restarts: number;
  lastExit?: ExitStatus & { at: string };
  /** The restart decision's counter (restart.ts), carried across respawns of the same spec. */
  restartCount?: RestartCount;
  resources: Resource[];
  /** Remove everything when the container ends (--rm). */
  autoRemove: boolean;
  /** Last error that kept the container from (re)starting. */
  error?: string;
  /** Health of the current run, when it has a check. */
  health?: HealthState;
  /**
   * A zero-downtime reload under way: the next container, prepared beside this one (its own
   * lease key and layer directory), with every resource it owns recorded before it exists.
   */
  next?: NextRun;
  /** What that reload is doing now (its monitor's word): preparing, starting, checking, switching … */
  reloading?: { phase: string; health?: string };
  /** Why it is held back before its start: an unmet dependency, as spec's dependencyGate words it
   *  (`waiting for db (healthy; now starting)`); cleared when it starts. `vessel ps` shows it. */
  waiting?: string;
}
