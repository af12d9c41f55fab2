import type { ContainerSpec } from './types.js';

/**
 * Defaults, in one place so the parser, the flags and the rendered spec agree.
 * A spec file describes a service (a vassal), so it restarts `always` unless told otherwise;
 * `vessel run` behaves like `docker run` and restarts `no`.
 */
export const DEFAULTS = {
  stopTimeout: 10,
  stopSignal: 'SIGTERM',
  wait: 'all',
  minUptime: 10,
  noNewPrivileges: true,
  /** docker's (moby daemon/health.go: defaultProbeInterval, defaultProbeTimeout, defaultProbeRetries). */
  health: { intervalMs: 30_000, timeoutMs: 30_000, retries: 3, startPeriodMs: 0, onUnhealthy: 'restart' },
} as const;

export type SpecOrigin = 'file' | 'flags';

export function defaultSpec(name: string, image: string, origin: SpecOrigin): ContainerSpec {
  return {
    name,
    image,
    env: [],
    volumes: [],
    restart: { mode: origin === 'file' ? 'always' : 'no' },
    stopTimeout: DEFAULTS.stopTimeout,
    stopSignal: DEFAULTS.stopSignal,
    wait: DEFAULTS.wait,
    minUptime: DEFAULTS.minUptime,
    tty: false,
    interactive: false,
    network: { mode: 'none', publish: [], aliases: [] },
    limits: {},
    jail: {},
    security: { portacl: [], capAdd: [], capDrop: [], noNewPrivileges: DEFAULTS.noNewPrivileges },
  };
}

