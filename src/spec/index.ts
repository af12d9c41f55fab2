/** The container spec: INI files and `vessel run` flags → one validated ContainerSpec. */
export type * from './types.js';
export { parseSpecText, parseSpecFile, SPEC_KEYS, type ParseOptions } from './parse.js';
export { specFromFlags, mergeFlags, type RunFlags } from './flags.js';
export { renderSpec } from './render.js';
export { quoteValue } from './ini.js';
export { DEFAULTS, defaultSpec } from './defaults.js';
export { parseSize, parsePositiveSize, formatSize, parsePercent, parseCpus, parseInteger, parseSeconds, parseBool, parseDuration, formatDuration } from './units.js';
export { hasHealthCheck, healthArgv, healthTestArray, healthTestOf, parseOnUnhealthy } from './health.js';
export { parseVolume, parseTmpfs, formatVolume, isVolumeName, validateVolumeName, DEFAULT_TMPFS_MODE } from './volume.js';
export {
  parseDependency,
  formatDependency,
  checkDependencies,
  dependencyNode,
  dependencyGate,
  effectiveCondition,
  stopOrder,
  startOrder,
  type DependencyNode,
  type DependencyStatus,
  type GateResult,
  type SetCheckOptions,
} from './depends.js';
export { envPairs, mergeEnv } from './env.js';
export {
  parsePublish, formatPublish, formatHostIp, parsePortAcl, formatPortAcl, portCount, isDynamicPublish, hostPortSpan, hostFamilies,
  hostIpsIntersect, publishOverlaps, checkPublishConflicts,
} from './publish.js';
export { splitCommand, parseCommand, formatCommand, quoteWord } from './command.js';
export { validateName, nameFromFile, generateName, NAME_RE } from './name.js';
export { normalizeSignal, SIGNALS } from './signal.js';
export { normalizeImage } from './image.js';
export { parseRestart, formatRestart } from './restart.js';
export { DEFAULT_NETWORK } from './network.js';
export { JAIL_PARAMS, validateJailParam, type JailParamValidator } from './jail-params.js';
export { CAPABILITIES, normalizeCapability } from './capabilities.js';
export { suggest, editDistance } from './suggest.js';
