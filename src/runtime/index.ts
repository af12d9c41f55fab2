import { hostOs } from '../util/index.js';
import type { Driver, HostOs } from './types.js';

export type * from './types.js';

/** The OS whose driver and network backend this process uses (VESSEL_OS: a test seam). */
export { hostOs } from '../util/index.js';

/** The driver of this host, chosen automatically; loaded lazily so one OS never loads the other's code. */
export async function driverFor(os: HostOs = hostOs()): Promise<Driver> {
  if (os === 'linux') return (await import('./linux/index.js')).linuxDriver;
  const mod = (await import('./freebsd/index.js')) as { freebsdDriver: Driver };
  return mod.freebsdDriver;
}
export { signalNumber } from './signals.js';
/**
 * The image's accounts as a start resolves the spec's user (docker's rules: a name or uid from the
 * image's /etc/passwd, its supplementary groups from /etc/group). Pure; FreeBSD hands the numbers
 * to its jail exec helper, Linux's vessel-init applies the same rules inside the container.
 */
export { parsePasswd, parseGroup, resolveIdentity, imageFiles, type Identity } from './freebsd/identity.js';
export { encodePlan, describePlan, PLAN_VERSION, type PlanRecord } from './plan-records.js';
export { baseSupervision, exitStatusOf, parseMonitorStatus, readMonitorStatus, type MonitorStatus, type MonitorPhase, type HealthResult } from './monitor-status.js';
export { initBinary } from './monitor-spawn.js';
