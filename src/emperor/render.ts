import { join } from 'node:path';
import type { VesselConfig } from '../util/index.js';
import { VesselError, fillTemplate } from '../util/index.js';

/**
 * Rendering of the Emperor's configuration (emperor/emperor.ini, `{{name}}` placeholders).
 * Pure: paths in, text out; `vessel up` writes the result and starts uWSGI on it.
 */

export interface EmperorTuning {
  /** emperor-required-heartbeat (s); vassals send 26 every third of it. */
  requiredHeartbeatSec: number;
  /** emperor-throttle (ms): added to the respawn delay at each unloyal death. */
  throttleMs: number;
  maxThrottleMs: number;
  /** A stopping vassal still alive after this is SIGKILLed: above every stop timeout. */
  curseToleranceSec: number;
  /** Emperor shutdown: vassals still alive after this are SIGKILLed. */
  reloadMercySec: number;
}

export const DEFAULT_TUNING: EmperorTuning = {
  requiredHeartbeatSec: 30,
  throttleMs: 1000,
  maxThrottleMs: 60_000,
  curseToleranceSec: 60,
  reloadMercySec: 45,
};

export interface EmperorPaths {
  emperorDir: string;
  /** emperor/vassal-wrapper of this package. */
  wrapper: string;
  /** Unix socket of emperor-stats. */
  stats: string;
  pidfile: string;
  /** The rendered ini itself. */
  ini: string;
}

export interface EmperorIniParams extends EmperorPaths, EmperorTuning {
  /** Environment the Emperor passes on to every vassal, in order. */
  env: Array<[string, string]>;
}

/** Where the Emperor's files live for a configuration. */
export function emperorPaths(cfg: VesselConfig): EmperorPaths {
  return {
    emperorDir: cfg.emperorDir,
    wrapper: join(cfg.packageDir, 'emperor', 'vassal-wrapper'),
    stats: join(cfg.run, 'emperor.stats'),
    pidfile: join(cfg.run, 'emperor.pid'),
    ini: join(cfg.run, 'emperor.ini'),
  };
}

/**
 * The variables every vassal needs: where its native monitor finds `vessel up`'s service, and the
 * stores the service resolves (the same as the `vessel up` that rendered the file).
 */
export function vassalEnv(
  cfg: VesselConfig,
  tuning: EmperorTuning,
  runtime: { service: string; nofile?: number | undefined },
): Array<[string, string]> {
  const registry: Array<[string, string]> = cfg.registry === undefined ? [] : [['VESSEL_REGISTRY', cfg.registry]];
  // The host's soft open-files limit: the Emperor runs with a lower one (faster spawns, see
  // up.ts emperorArgv) and the wrapper gives this one back to every vassal.
  const nofile: Array<[string, string]> = runtime.nofile === undefined ? [] : [['VESSEL_NOFILE', String(runtime.nofile)]];
  return [
    ...registry,
    ...nofile,
    ['VESSEL_ROOT', cfg.root],
    ['VESSEL_IMAGE_DIR', cfg.images],
    ['VESSEL_CONTAINER_DIR', cfg.containers],
    ['VESSEL_ARCHIVE_DIR', cfg.archive],
    ['VESSEL_NETWORK_DIR', cfg.networks],
    ['VESSEL_RUN_DIR', cfg.run],
    ['VESSEL_EMPEROR_DIR', cfg.emperorDir],
    ['VESSEL_VASSALS', cfg.vassalsDir],
    ['VESSEL_LIBEXEC', cfg.libexec],
    ['VESSEL_CGROUP_PARENT', cfg.cgroupParent],
    // The wrapper execs `$VESSEL_LIBEXEC/vessel-init vassal …`, which asks vessel up's service here.
    ['VESSEL_SERVICE', runtime.service],
    ['VESSEL_HEARTBEAT', String(heartbeatInterval(tuning.requiredHeartbeatSec))],
  ];
}

/** Seconds between two heartbeats: a third of what the Emperor requires, at most 10. */
export function heartbeatInterval(requiredSec: number): number {
  return Math.max(1, Math.min(10, Math.floor(requiredSec / 3)));
}

/**
 * uWSGI expands `%(…)`, `%x` magic variables, `$(ENV)` and `@(file)` in ini values, and a line
 * break would start a new option: refuse such values instead of letting uWSGI reinterpret them.
 */
function checkValue(key: string, value: string): string {
  if (/[\n\r\0]/.test(value) || /%|\$\(|@\(/.test(value)) {
    throw new VesselError('E_CONFIG', `emperor.ini ${key}: ${JSON.stringify(value)} contains a line break, "%", "$(" or "@(" that uWSGI would reinterpret`, {
      hint: 'choose a state root / run directory without these characters',
    });
  }
  return value;
}

function checkPositive(key: string, n: number): string {
  if (!Number.isInteger(n) || n <= 0) throw new VesselError('E_CONFIG', `emperor.ini ${key}: expected a positive integer, got ${n}`);
  return String(n);
}

/** Fill the template. Every placeholder must be known and every known one is filled. */
export function renderEmperorIni(template: string, p: EmperorIniParams): string {
  const values: Record<string, string> = {
    env: p.env.map(([k, v]) => `env = ${checkValue(k, `${k}=${v}`)}`).join('\n'),
    emperor_dir: checkValue('emperor', p.emperorDir),
    wrapper: checkValue('emperor-wrapper', p.wrapper),
    stats: checkValue('emperor-stats', p.stats),
    pidfile: checkValue('emperor-pidfile', p.pidfile),
    curse_tolerance: checkPositive('emperor-curse-tolerance', p.curseToleranceSec),
    required_heartbeat: checkPositive('emperor-required-heartbeat', p.requiredHeartbeatSec),
    throttle: checkPositive('emperor-throttle', p.throttleMs),
    max_throttle: checkPositive('emperor-max-throttle', p.maxThrottleMs),
    reload_mercy: checkPositive('reload-mercy', p.reloadMercySec),
  };
  // A unix socket path longer than sun_path (108 bytes on Linux, 104 on FreeBSD) is cut by uWSGI.
  if (Buffer.byteLength(p.stats) > 103) {
    throw new VesselError('E_CONFIG', `emperor-stats ${p.stats}: socket path longer than 103 bytes`, { hint: 'use a shorter VESSEL_RUN_DIR' });
  }
  return fillTemplate(template, values, 'emperor.ini template');
}
