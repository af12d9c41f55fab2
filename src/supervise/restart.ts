import type { RestartPolicy } from '../spec/index.js';
import type { ExitStatus } from '../runtime/index.js';

/**
 * The one restart decision, for every supervisor of a container: the Emperor path asks it in
 * `vessel up`'s service; a detached container's native monitor evaluates the same table, whose
 * constants supervise/plan.ts renders into its plan (native/common/restart.c; a test compares the
 * two over one matrix). docker's meaning throughout:
 * - `no`: never; `always`: after every exit; `on-failure`: after a non-zero exit;
 * - `on-failure:N`: at most N restarts in a row after failures — the counter is the number of
 *   consecutive non-zero exits, reset by an exit 0 and by a new spec (reload) or a new `run`;
 * - back-off: 100 ms doubling up to a minute, back to 100 ms once a run stayed up 10 s.
 * A stop that vessel asked for (stop, rm, reload, Emperor stop) never reaches this function.
 * The Emperor path keeps uWSGI's own back-off (its throttle) and ignores `delayMs`.
 */

/** What the decision remembers between runs; kept in the state file (`restartCount`). */
export interface RestartCount {
  /** Consecutive runs that ended with a non-zero code. */
  failures: number;
  /** Consecutive runs shorter than HEALTHY_UPTIME_MS (drives the back-off). */
  quickDeaths: number;
}

export const NO_RESTARTS: RestartCount = { failures: 0, quickDeaths: 0 };

export interface RestartDecision {
  restart: boolean;
  /** Back-off before the next start (detached supervisor and native monitor). */
  delayMs: number;
  /** The counter after this exit, to be recorded. */
  count: RestartCount;
}

export const HEALTHY_UPTIME_MS = 10_000;
/** docker's back-off: the first delay, doubled at each quick death up to the cap. */
export const BACKOFF_BASE_MS = 100;
export const BACKOFF_MAX_MS = 60_000;

/** docker's back-off for the n-th consecutive quick death (0 → none). */
export function restartDelayMs(consecutiveQuickDeaths: number): number {
  if (consecutiveQuickDeaths <= 0) return 0;
  return Math.min(BACKOFF_MAX_MS, BACKOFF_BASE_MS * 2 ** (consecutiveQuickDeaths - 1));
}

function wanted(policy: RestartPolicy, code: number, failures: number): boolean {
  switch (policy.mode) {
    case 'no':
      return false;
    case 'always':
      return true;
    case 'on-failure':
      if (code === 0) return false;
      return policy.maxRetries === undefined || failures <= policy.maxRetries;
  }
}

/** After a container ended on its own: restart or not, after how long, and the new counter. */
export function decideRestart(policy: RestartPolicy, status: Pick<ExitStatus, 'code'>, before: RestartCount, uptimeMs: number): RestartDecision {
  const failures = status.code === 0 ? 0 : before.failures + 1;
  // A run that stayed up long enough starts the back-off over: its next death restarts at once.
  const quickDeaths = uptimeMs >= HEALTHY_UPTIME_MS ? 1 : before.quickDeaths + 1;
  const restart = wanted(policy, status.code, failures);
  return { restart, delayMs: restart ? restartDelayMs(quickDeaths) : 0, count: { failures, quickDeaths } };
}
