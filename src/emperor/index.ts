/** uWSGI Emperor integration: the vassals' decisions (served to their native monitors), the stats client, the spec watcher, `vessel up`. */
export { fetchStats, parseStats, poke, type EmperorStats, type VassalStats, type BlacklistStats } from './stats.js';
export {
  renderEmperorIni,
  emperorPaths,
  vassalEnv,
  heartbeatInterval,
  DEFAULT_TUNING,
  type EmperorIniParams,
  type EmperorPaths,
  type EmperorTuning,
} from './render.js';
export { SpecWatcher, specName, renderVessel, nextMtime, RENDERED_MARK, renderedFrom, type WatchOptions, type WatchEvent } from './watch.js';
export { VassalSession, type VassalSessionOptions } from './vassal.js';
export { up, upDetached, prepare, cliPath, emperorArgv, runningEmperor, type UpOptions } from './up.js';
export { mergePs, formatPs, type PsReport, type PsRow, type VassalView } from './ps.js';
export { renderRcScript, type RcScriptParams } from './service.js';
export { renderMetrics, type MetricsInput, type ContainerSnapshot } from './metrics.js';
export { serveMetrics, parseMetricsAddress, collectMetrics, METRICS_CONTENT_TYPE, type MetricsOptions, type MetricsServer } from './metrics-server.js';
