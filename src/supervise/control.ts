import { existsSync, rmSync, writeFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { VesselError, config, containerPaths, pidAlive, log, errorMessage } from '../util/index.js';
import { driverFor } from '../runtime/index.js';
import type { ContainerRef } from '../runtime/index.js';
import type { ContainerState } from './types.js';
import { effectiveStatus, isLive, readState } from './state.js';
import { releaseRun } from './release.js';

export async function mustState(name: string): Promise<ContainerState> {
  const s = await readState(name);
  if (!s) throw new VesselError('E_NOT_FOUND', `no such container: ${name}`, { hint: 'vessel ps -a lists containers' });
  return s;
}

export function refOf(s: ContainerState): ContainerRef {
  return { name: s.name, ...(s.pid === undefined ? {} : { pid: s.pid }), resources: s.resources };
}

/** Marker that tells a container's monitor its container is stopped on purpose (no restart), and for how long to wait. */
export function stopMarker(name: string): string {
  return join(containerPaths(config(), name).dir, 'stop-requested');
}

export function stopRequested(name: string): boolean {
  return existsSync(stopMarker(name));
}

export function clearStopRequest(name: string): void {
  rmSync(stopMarker(name), { force: true });
}

function refuseVassal(s: ContainerState, verb: string): void {
  if (s.mode === 'vassal') {
    throw new VesselError('E_USAGE', `container ${s.name} is run by the uWSGI Emperor; ${verb} would only make it respawn`, {
      hint: `remove or rename its spec (e.g. ${s.name}.ini → ${s.name}.ini.off) to stop it`,
    });
  }
}

/** Resolves once PID is gone (a monitor ending its container), false after TIMEOUTMS. */
export async function pidGone(pid: number, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (pidAlive(pid)) {
    if (Date.now() > deadline) return false;
    // a stop is mostly this wait: a short step costs a kill(2) each, a long one is latency
    await sleep(2);
  }
  return true;
}

/**
 * Stop a container run by another process and wait for its end. Its monitor gets SIGTERM with a
 * stop marker holding the timeout: it sends the stop signal to every process, SIGKILLs what is
 * left after the timeout, removes the run's cgroups and exits without restarting; then what
 * TypeScript created is released here (releaseRun, idempotent with the waiting CLI's).
 */
export async function stopContainer(name: string, timeoutSec?: number): Promise<ContainerState> {
  const s = await mustState(name);
  if (!isLive(s)) return s;
  refuseVassal(s, 'stop');
  mkdirSync(containerPaths(config(), name).dir, { recursive: true });
  const t = timeoutSec ?? s.spec.stopTimeout;
  writeFileSync(stopMarker(name), `${t}\n`);
  const monitor = s.resources.find((r) => r.kind === 'process' && r.detail?.role === 'monitor');
  if (monitor && Number(monitor.id) === s.supervisorPid) {
    try {
      process.kill(Number(monitor.id), 'SIGTERM');
    } catch { /* gone meanwhile */ }
    // its published ports stop taking connections while it shuts down (net/attach.ts says why);
    // a failure there only means the release applies the rules instead
    const withdrawn = s.resources.some((r) => r.kind === 'nft')
      ? import('../net/index.js').then((n) => n.withdrawPublished(name)).catch((e: unknown) => log().warn({ container: name, err: errorMessage(e) }, 'cannot withdraw published ports before the release'))
      : Promise.resolve();
    const gone = await pidGone(Number(monitor.id), t * 1000 + 15_000);
    await withdrawn;
    if (!gone) throw new VesselError('E_RUNTIME', `container ${name}: its monitor (pid ${monitor.id}) did not end after the stop`);
    return (await releaseRun(name)) ?? s;
  }
  // No monitor yet: another process is still preparing the start (it is the supervisor of record
  // until the monitor runs). Said at once rather than waited for; the marker stays, so the monitor
  // that comes does not restart what it runs.
  throw new VesselError('E_STATE', `container ${name} is still being started (by pid ${s.supervisorPid})`, { hint: `vessel stop ${name} again once it runs` });
}

export async function killContainer(name: string, signal: string): Promise<void> {
  const s = await mustState(name);
  if (!isLive(s) || s.status !== 'running') throw new VesselError('E_STATE', `container ${name} is not running (${effectiveStatus(s)})`);
  refuseVassal(s, 'kill');
  // docker's rule: a container killed by hand is not restarted by its policy
  writeFileSync(stopMarker(name), `${s.spec.stopTimeout}\n`);
  const driver = await driverFor();
  await driver.signal(refOf(s), signal, 'main');
}

