import type { ContainerSpec } from '../spec/index.js';
import type { ExitStatus, HealthResult, Resource } from '../runtime/index.js';
import type { RestartCount } from './restart.js';

/** `restarting`: a detached container waiting out its back-off before the next run. */
export type ContainerStatus = 'created' | 'running' | 'stopping' | 'restarting' | 'exited' | 'failed';

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
  /** docker's health state (its inspect shape), while the container has a health check. */
  health?: { status: 'starting' | 'healthy' | 'unhealthy'; failingStreak: number; log: HealthResult[] };
  /** Why a started container does not run yet (e.g. waiting for a dependency). */
  waiting?: string;
}
