/** One container's lifetime, for the CLI, the detached supervisor and the Emperor vassal. */
export type * from './types.js';
export { Supervisor, type SuperviseOptions } from './supervisor.js';
export { readState, writeState, listStates, isLive, effectiveStatus, imageUsers } from './state.js';
export { removeLeftovers, releaseResources } from './leftovers.js';
export { shouldRestart, restartDelayMs, HEALTHY_UPTIME_MS } from './restart.js';
export { resolveSpec, checkStartable, commandOf, mergeEnv } from './resolve.js';
export { recordError, readError, listErrors, removeContainer, gc, type GcReport } from './gc.js';
export { checkImagePlatform, platformError, LINUX64_PROBE } from './platform.js';
