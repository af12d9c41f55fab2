import { VesselError } from '../util/index.js';
import { DEFAULTS, formatDuration, healthArgv, healthTestOf, type ContainerSpec, type HealthTest } from '../spec/index.js';
import type { ImageConfig } from '../image/index.js';
import type { HealthConfig } from '../runtime/index.js';
import type { HealthProbe, HealthState } from './types.js';

/**
 * The health check a container runs, docker's way (moby daemon/commit.go merge): the spec's test,
 * else the image's; each of interval, timeout, start period and retries the spec's when set, else
 * the image's when non-zero, else docker's default. A disabled test (NONE) means no check.
 * Pure: `vessel plan` and a start resolve it the same way (config.ts).
 */
export function resolveHealth(spec: ContainerSpec, image: ImageConfig): HealthConfig | undefined {
  const s = spec.health ?? {};
  const img = image.healthcheck;
  const imageTest = img === undefined ? undefined : healthTestOf(img.test);
  const test: HealthTest | undefined = s.test ?? imageTest;
  if (test === undefined || test.kind === 'none') {
    const set = (['intervalMs', 'timeoutMs', 'startPeriodMs', 'retries', 'onUnhealthy'] as const).filter((k) => s[k] !== undefined);
    // Timings for a check nobody runs: the spec expects a check that will not happen.
    if (set.length > 0 && s.test === undefined) {
      const why = test === undefined ? `image ${spec.image} has no HEALTHCHECK` : `image ${spec.image} disables its check (HEALTHCHECK NONE)`;
      throw new VesselError('E_SPEC', `${spec.source ?? 'vessel run flags'}: [health]: timings are set but there is no check to run: ${why}`, {
        hint: 'add [health] command = … (or shell = …, or --health-cmd)',
      });
    }
    return undefined;
  }
  const ms = (ns: number | undefined): number | undefined => (ns ? Math.max(1, Math.round(ns / 1e6)) : undefined);
  const d = DEFAULTS.health;
  return {
    argv: healthArgv(test),
    intervalMs: s.intervalMs ?? ms(img?.interval) ?? d.intervalMs,
    timeoutMs: s.timeoutMs ?? ms(img?.timeout) ?? d.timeoutMs,
    retries: s.retries ?? img?.retries ?? d.retries,
    startPeriodMs: s.startPeriodMs ?? ms(img?.startPeriod) ?? d.startPeriodMs,
    onUnhealthy: s.onUnhealthy ?? d.onUnhealthy,
  };
}

/** How `vessel plan` shows the check (the monitor runs it; nothing in the driver's plan does). */
export function describeHealth(h: HealthConfig): string {
  return [
    `argv = ${JSON.stringify(h.argv)}`,
    `interval = ${formatDuration(h.intervalMs)}`,
    `timeout = ${formatDuration(h.timeoutMs)}`,
    `start_period = ${formatDuration(h.startPeriodMs)}`,
    `retries = ${h.retries}`,
    `on_unhealthy = ${h.onUnhealthy}`,
  ].join('\n') + '\n';
}

/** docker keeps the last five results (daemon/health.go maxLogEntries) and 4 KiB of each output (maxOutputLen). */
export const HEALTH_LOG_ENTRIES = 5;
export const HEALTH_OUTPUT_LIMIT = 4096;

/**
 * The state after one more check result (moby daemon/health.go handleProbeResult): a success
 * makes the container healthy and clears the streak; a failure adds to the streak unless the
 * container is still starting within its start period, and `retries` failures in a row make it
 * unhealthy. For whatever runs the checks and records their results (issue 14's monitor).
 */
export function nextHealth(
  before: HealthState | undefined,
  probe: HealthProbe,
  check: Pick<HealthConfig, 'retries' | 'startPeriodMs'>,
  startedAt: string,
): HealthState {
  const log = [...(before?.log ?? []), { ...probe, output: probe.output.slice(0, HEALTH_OUTPUT_LIMIT) }].slice(-HEALTH_LOG_ENTRIES);
  const status = before?.status ?? 'starting';
  if (probe.exitCode === 0) return { status: 'healthy', failingStreak: 0, log };
  const inStartPeriod = status === 'starting' && Date.parse(probe.start) - Date.parse(startedAt) < check.startPeriodMs;
  if (inStartPeriod) return { status, failingStreak: before?.failingStreak ?? 0, log };
  const failingStreak = (before?.failingStreak ?? 0) + 1;
  return { status: failingStreak >= check.retries ? 'unhealthy' : status, failingStreak, log };
}

/** How ps shows it, after docker's `Up 3 minutes (healthy)`: `healthy`, `unhealthy`, `health: starting`. */
export function healthLabel(h: Pick<HealthState, 'status'>): string {
  return h.status === 'starting' ? 'health: starting' : h.status;
}
