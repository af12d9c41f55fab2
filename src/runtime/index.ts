import { platform } from 'node:os';
import { VesselError } from '../util/errors.js';
import type { Driver, HostOs } from './types.js';

export type * from './types.js';

/**
 * The OS whose driver and network backend this process uses. VESSEL_OS=freebsd|linux overrides
 * the platform — a TEST SEAM only: it lets the FreeBSD code path run on Linux against a model
 * host (test/unit/freebsd-e2e.test.ts); on a real host it would drive commands that do not exist.
 */
export function hostOs(env: NodeJS.ProcessEnv = process.env): HostOs {
  const forced = env.VESSEL_OS;
  if (forced !== undefined && forced !== '') {
    if (forced === 'linux' || forced === 'freebsd') return forced;
    throw new VesselError('E_CONFIG', `VESSEL_OS=${forced}: expected freebsd or linux (a test seam; leave it unset)`);
  }
  const p = platform();
  if (p === 'linux' || p === 'freebsd') return p;
  throw new VesselError('E_UNSUPPORTED', `vessel runs containers on FreeBSD and Linux, not on ${p}`);
}

/** The driver of this host, chosen automatically; loaded lazily so one OS never loads the other's code. */
export async function driverFor(os: HostOs = hostOs()): Promise<Driver> {
  if (os === 'linux') return (await import('./linux/index.js')).linuxDriver;
  const mod = (await import('./freebsd/index.js')) as { freebsdDriver: Driver };
  return mod.freebsdDriver;
}
