import { readdirSync } from 'node:fs';
import { config, containerPaths, readJsonFile, writeJsonAtomic, pidAlive } from '../util/index.js';
import { readMonitorStatus } from '../runtime/index.js';
import type { ContainerState } from './types.js';
import { mergeStatus } from './status.js';

/** The state file of one container as TypeScript wrote it; undefined when no such container exists. */
export async function readRawState(name: string): Promise<ContainerState | undefined> {
  return readJsonFile<ContainerState>(containerPaths(config(), name).state);
}

/** A container's state now: the state file merged with its monitor's status record (status.ts). */
export async function readState(name: string): Promise<ContainerState | undefined> {
  const s = await readRawState(name);
  return s ? mergeStatus(s, readMonitorStatus(containerPaths(config(), name).status)) : undefined;
}

/** Written atomically: a reader (ps, gc, another vassal) sees the old or the new state, never half. */
export function writeState(state: ContainerState): void {
  writeJsonAtomic(containerPaths(config(), state.name).state, state, 0o600);
}

export async function listStates(): Promise<ContainerState[]> {
  let names: string[];
  try {
    names = readdirSync(config().containers);
  } catch {
    return [];
  }
  const out: ContainerState[] = [];
  for (const n of names.sort()) {
    try {
      const s = await readState(n);
      if (s) out.push(s);
    } catch { /* a corrupt state file is reported by gc/inspect, not by listing */ }
  }
  return out;
}

/** A container is live while its supervising process is: the container dies with it. */
export function isLive(s: ContainerState): boolean {
  return (s.status === 'running' || s.status === 'stopping' || s.status === 'created' || s.status === 'restarting') && s.supervisorPid !== undefined && pidAlive(s.supervisorPid);
}

/** The status to show: a 'running' state whose supervisor is gone is really dead (SIGKILL, reboot). */
export function effectiveStatus(s: ContainerState): ContainerState['status'] | 'dead' {
  if ((s.status === 'running' || s.status === 'stopping' || s.status === 'created' || s.status === 'restarting') && !isLive(s)) return 'dead';
  return s.status;
}

/** Which container uses which image, for the image store's rm and prune (image/users.ts). */
export async function imageUsers(): Promise<Array<{ name: string; imageId?: string }>> {
  return (await listStates()).map((s) => ({ name: s.name, ...(s.imageId !== undefined ? { imageId: s.imageId } : {}) }));
}

/** Which container mounts which named volume, for the volume store's rm and prune (volume/types.ts). */
export async function volumeUsers(): Promise<Array<{ name: string; volumes: string[] }>> {
  return (await listStates()).map((s) => ({
    name: s.name,
    volumes: s.spec.volumes.flatMap((v) => (v.kind === 'named' ? [v.name] : [])),
  }));
}
