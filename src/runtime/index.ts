import { platform } from 'node:os';
import { VesselError } from '../util/errors.js';
import type { Driver, HostOs } from './types.js';

export type * from './types.js';

export function hostOs(): HostOs {
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
