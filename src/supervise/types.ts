import type { ContainerSpec } from '../spec/index.js';
import type { ExitStatus, Resource } from '../runtime/index.js';
import type { RestartCount } from './restart.js';

export type ContainerStatus = 'created' | 'running' | 'stopping' | 'exited' | 'failed';

/** Who supervises the container: a foreground CLI, a detached supervisor, or an Emperor vassal. */
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
  /** Pid of the supervising process (CLI, detached supervisor or vassal). */
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
  /** Why it is held back before its start: an unmet dependency, as spec's dependencyGate words it
   *  (`waiting for db (healthy; now starting)`); cleared when it starts. `vessel ps` shows it. */
  waiting?: string;
}
