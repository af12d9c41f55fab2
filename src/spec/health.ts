import type { HealthCheck, HealthTest, OnUnhealthy } from './types.js';
import { invalid, show } from './fail.js';
import { didYouMean } from './suggest.js';

/**
 * [health] and the --health-* flags: docker's health check options. What is left out here is
 * filled in at start from the image's HEALTHCHECK, then from docker's defaults
 * (supervise/health.ts), so the values stay optional in the spec.
 */

export function parseOnUnhealthy(text: string): OnUnhealthy {
  const t = text.trim();
  if (t === 'restart' || t === 'none') return t;
  return invalid(`${show(text)} is not restart or none${didYouMean(t, ['restart', 'none'])}`,
    'restart: an unhealthy container is ended and its restart policy decides; none: it is only reported');
}

/** The one test a check runs: a second one (command and shell, or either with disable) is a mistake. */
export function setHealthTest(h: HealthCheck, test: HealthTest): void {
  if (h.test !== undefined) invalid(`conflicts with ${describeTest(h.test)} (a health check runs one test: command, shell, or disable)`);
  h.test = test;
}

function describeTest(t: HealthTest): string {
  return t.kind === 'exec' ? 'command' : t.kind === 'shell' ? 'shell' : 'disable = true';
}

/** Timing keys that mean nothing when the check is disabled: docker refuses them together too. */
export function timingKeys(h: HealthCheck): string[] {
  const keys: string[] = [];
  if (h.intervalMs !== undefined) keys.push('interval');
  if (h.timeoutMs !== undefined) keys.push('timeout');
  if (h.startPeriodMs !== undefined) keys.push('start_period');
  if (h.retries !== undefined) keys.push('retries');
  if (h.onUnhealthy !== undefined) keys.push('on_unhealthy');
  return keys;
}

/** A disabled check with timings set: one line naming them. */
export function checkDisabledAlone(h: HealthCheck): void {
  if (h.test?.kind !== 'none') return;
  const keys = timingKeys(h);
  if (keys.length > 0) invalid(`disable = true conflicts with ${keys.join(', ')} (a disabled check runs nothing)`);
}

/** docker's Healthcheck.Test of a test: what an OCI image config records. */
export function healthTestArray(t: HealthTest): string[] {
  if (t.kind === 'none') return ['NONE'];
  if (t.kind === 'shell') return ['CMD-SHELL', t.script];
  return ['CMD', ...t.argv];
}

/**
 * docker's Healthcheck.Test → a test; undefined for an empty list (docker: "inherit") and for
 * anything docker itself would not run (an unknown first word, CMD without a command).
 */
export function healthTestOf(test: readonly string[]): HealthTest | undefined {
  const [kind, ...rest] = test;
  if (kind === 'NONE' && rest.length === 0) return { kind: 'none' };
  if (kind === 'CMD' && rest.length > 0) return { kind: 'exec', argv: rest };
  if (kind === 'CMD-SHELL' && rest.length === 1 && rest[0] !== '') return { kind: 'shell', script: rest[0]! };
  return undefined;
}

/** The argv a test runs inside the container: CMD-SHELL goes through /bin/sh -c, as in docker. */
export function healthArgv(t: Exclude<HealthTest, { kind: 'none' }>): string[] {
  return t.kind === 'shell' ? ['/bin/sh', '-c', t.script] : [...t.argv];
}

/**
 * Whether a spec asks for health checks: a [health] section not disabled (`disable = true` is the
 * test NONE). Its test may still come from the image. What decides depends_on's default condition,
 * the set check of `:healthy`, and the run-time gate alike.
 */
export function hasHealthCheck(spec: { health?: { test?: HealthTest } }): boolean {
  return spec.health !== undefined && spec.health.test?.kind !== 'none';
}
