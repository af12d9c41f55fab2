import type { RestartPolicy } from '../spec/index.js';
import type { ExitStatus } from '../runtime/index.js';

/**
 * Restart decisions, shared by the detached supervisor and the Emperor vassal.
 * `stoppedByUser`: a stop that vessel asked for never triggers a restart.
 */
export function shouldRestart(policy: RestartPolicy, status: ExitStatus, consecutiveFailures: number, stoppedByUser: boolean): boolean {
  if (stoppedByUser) return false;
  switch (policy.mode) {
    case 'no':
      return false;
    case 'always':
      return true;
    case 'on-failure':
      if (status.code === 0) return false;
      return policy.maxRetries === undefined || consecutiveFailures <= policy.maxRetries;
  }
}

/**
 * docker's back-off: 100 ms doubling up to a minute, reset once a run stayed up for 10 s, so a
 * crash loop costs nothing while a service that crashes once a day restarts at once.
 */
export function restartDelayMs(consecutiveQuickDeaths: number): number {
  if (consecutiveQuickDeaths <= 0) return 0;
  return Math.min(60_000, 100 * 2 ** (consecutiveQuickDeaths - 1));
}

export const HEALTHY_UPTIME_MS = 10_000;
