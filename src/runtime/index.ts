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
export { encodePlan, describePlan, PLAN_VERSION, type PlanRecord } from './plan-records.js';
export { baseSupervision, exitStatusOf, parseMonitorStatus, readMonitorStatus, type MonitorStatus, type MonitorPhase, type HealthResult } from './monitor-status.js';
