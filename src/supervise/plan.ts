import type { ContainerSpec } from '../spec/index.js';
import { baseSupervision, signalNumber, type ContainerConfig, type PlanRecord } from '../runtime/index.js';
import { BACKOFF_BASE_MS, BACKOFF_MAX_MS, HEALTHY_UPTIME_MS } from './restart.js';

/**
 * The supervision records of the monitor's plan (native/common/plan.h): how the container's native
 * monitor supervises it. The restart table's constants come from restart.ts, so the rule lives in
 * one place whichever process evaluates it. Pure.
 */

export type MonitorMode = 'foreground' | 'detached' | 'emperor';

export interface SupervisionFacts {
  mode: MonitorMode;
  /** The monitor's status record and the stop marker (`vessel stop` of a detached container). */
  statusPath: string;
  stopMarker: string;
  /** vessel up's socket: asked for decisions (Emperor) or for the release (detached), if it runs. */
  service?: string;
  /** Without a service: what the monitor runs once to release what TypeScript created. */
  releaseArgv?: string[];
  /** Foreground: SIGTERM/SIGINT stop the container (cluster tasks) instead of being forwarded. */
  signalsStop?: boolean;
  /** Between two heartbeats to the Emperor. */
  heartbeatMs?: number;
  /**
   * Foreground: the process the monitor dies with (default: this one, which waits for it); 0 when
   * nobody waits because the monitor IS the caller (the native front end execs it: handoff.ts).
   */
  parentPid?: number;
}

export function supervisionRecords(spec: ContainerSpec, cfg: ContainerConfig, f: SupervisionFacts): PlanRecord[] {
  const r: PlanRecord[] = [
    ...baseSupervision(spec.name, cfg.runId, f.statusPath, signalNumber(spec.stopSignal)),
    ['mode', f.mode],
    ['stop-timeout-ms', String(Math.round(spec.stopTimeout * 1000))],
    ['stop-marker', f.stopMarker],
    ['restart', spec.restart.mode, String(spec.restart.maxRetries ?? -1)],
    ['backoff', String(BACKOFF_BASE_MS), String(BACKOFF_MAX_MS), String(HEALTHY_UPTIME_MS)],
    ['min-uptime-ms', String(Math.round(spec.minUptime * 1000))],
  ];
  if (f.heartbeatMs !== undefined) r.push(['heartbeat-ms', String(f.heartbeatMs)]);
  if (f.service !== undefined) r.push(['service', f.service]);
  for (const a of f.releaseArgv ?? []) r.push(['release-arg', a]);
  if (f.signalsStop) r.push(['on-signal', 'stop']);
  // a foreground container dies with the process that waits for it (this one, unless handed off)
  if (f.mode === 'foreground' && f.parentPid !== 0) r.push(['parent-pid', String(f.parentPid ?? process.pid)]);
  const h = cfg.health;
  if (h && h.argv.length > 0) {
    for (const a of h.argv) r.push(['health-arg', a]);
    r.push(['health', String(h.intervalMs), String(h.timeoutMs), String(h.startPeriodMs), String(h.retries), h.onUnhealthy]);
  }
  return r;
}
