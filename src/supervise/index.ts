/** One container's lifetime, for the CLI, the detached supervisor and the Emperor vassal. */
export type * from './types.js';
export { Supervisor, type SuperviseOptions } from './supervisor.js';
export { readState, writeState, listStates, isLive, effectiveStatus, imageUsers, volumeUsers } from './state.js';
export { removeLeftovers, releaseResources } from './leftovers.js';
export { decideRestart, restartDelayMs, HEALTHY_UPTIME_MS, NO_RESTARTS, type RestartCount, type RestartDecision } from './restart.js';
export { resolveSpec, planSpecConfig, checkStartable, commandOf, mergeEnv, zfsVolumeStore } from './resolve.js';
export { containerConfig, type ConfigFacts } from './config.js';
export { recordError, readError, listErrors, removeContainer, gc, type GcReport } from './gc.js';
export { checkImagePlatform, platformError, LINUX64_PROBE } from './platform.js';
export { execIn } from './exec.js';
export { mustState, refOf, killContainer, stopContainer } from './control.js';
export { printLogs } from './logs.js';
export { superviseDetached } from './detached.js';
/** A container's exit, as the runtime reports it: the vassal and the CLI read it from supervise. */
export type { ExitStatus } from '../runtime/index.js';
