/** One container's lifetime: prepared here, run by its native monitor, released here. */
export type * from './types.js';
export { Supervisor, type SuperviseOptions } from './supervisor.js';
export { readState, readRawState, writeState, listStates, isLive, effectiveStatus, imageUsers, volumeUsers } from './state.js';
export { prepareRun, recordStarted, type PrepareOptions, type PreparedRun } from './prepare.js';
export { releaseRun } from './release.js';
export { prepareHandoff, handoffStarted, releaseMonitored, exitNote, type HandoffOptions } from './handoff.js';
export { supervisionRecords, type SupervisionFacts, type MonitorMode } from './plan.js';
export { mergeStatus } from './status.js';
export { surgeRefusal, prepareNext, switchToNext, retireCurrent, abandonNext } from './surge.js';
export { removeLeftovers, releaseResources } from './leftovers.js';
export { decideRestart, restartDelayMs, HEALTHY_UPTIME_MS, NO_RESTARTS, type RestartCount, type RestartDecision } from './restart.js';
export { resolveSpec, planSpecConfig, checkStartable, commandOf, mergeEnv, zfsVolumeStore, networkFileMounts } from './resolve.js';
export { containerConfig, type ConfigFacts } from './config.js';
export { resolveHealth, describeHealth, nextHealth, healthLabel, HEALTH_LOG_ENTRIES, HEALTH_OUTPUT_LIMIT } from './health.js';
export { inspectView, type InspectView } from './inspect.js';
export { sampleUsage, statsTargets, statsRow, formatStats, type UsageSample, type StatsRow } from './stats.js';
export { recordError, readError, listErrors, removeContainer, gc, type GcReport } from './gc.js';
export { checkImagePlatform, platformError, LINUX64_PROBE } from './platform.js';
export { execIn } from './exec.js';
export { mustState, refOf, killContainer, stopContainer, stopMarker } from './control.js';
export { printLogs } from './logs.js';
/** A container's exit, as the runtime reports it: the vassal and the CLI read it from supervise. */
export type { ExitStatus, Stats } from '../runtime/index.js';
