import { existsSync, rmSync, writeFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { VesselError, config, containerPaths } from '../util/index.js';
import { driverFor } from '../runtime/index.js';
import type { ContainerRef } from '../runtime/index.js';
import type { ContainerState } from './types.js';
import { effectiveStatus, isLive, readState } from './state.js';

export async function mustState(name: string): Promise<ContainerState> {
  const s = await readState(name);
  if (!s) throw new VesselError('E_NOT_FOUND', `no such container: ${name}`, { hint: 'vessel ps -a lists containers' });
  return s;
}

export function refOf(s: ContainerState): ContainerRef {
  return { name: s.name, ...(s.pid === undefined ? {} : { pid: s.pid }), resources: s.resources };
}

/** Marker that tells a detached supervisor its container was stopped on purpose: no restart. */
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

/** Stop a container run by another process (detached supervisor or foreground CLI) and wait for its end. */
export async function stopContainer(name: string, timeoutSec?: number): Promise<ContainerState> {
  const s = await mustState(name);
  if (!isLive(s)) return s;
  refuseVassal(s, 'stop');
  mkdirSync(containerPaths(config(), name).dir, { recursive: true });
  writeFileSync(stopMarker(name), `${process.pid}\n`);
  const driver = await driverFor();
  const t = timeoutSec ?? s.spec.stopTimeout;
  await driver.stop(refOf(s), s.spec.stopSignal, t);
  // the supervisor records the exit and releases resources; wait for it to finish
  const deadline = Date.now() + 15_000;
  for (;;) {
    const now = await readState(name);
    if (!now || !isLive(now) || now.status === 'exited' || now.status === 'failed') return now ?? s;
    if (Date.now() > deadline) throw new VesselError('E_RUNTIME', `container ${name}: supervisor pid ${now.supervisorPid} did not finish after the stop`);
    await sleep(25);
  }
}

export async function killContainer(name: string, signal: string): Promise<void> {
  const s = await mustState(name);
  if (!isLive(s) || s.status !== 'running') throw new VesselError('E_STATE', `container ${name} is not running (${effectiveStatus(s)})`);
  refuseVassal(s, 'kill');
  writeFileSync(stopMarker(name), `${process.pid}\n`);
  const driver = await driverFor();
  await driver.signal(refOf(s), signal, 'main');
}

