import { readFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import type { ContainerRef, Resource, Stats } from '../types.js';
import { cgroupLayout, cgroupPids, cgroupSetFromResources, cgroupStats, killAll } from './cgroup.js';
import { signalNumber } from '../signals.js';
import { netnsIo } from './netdev.js';

/** Pids recorded for a run: the monitor (outside the container) and the container's init. */
export function recordedPid(resources: Resource[], role: 'monitor' | 'init'): number | undefined {
  const r = resources.find((x) => x.kind === 'process' && x.detail?.role === role);
  return r ? Number(r.id) : undefined;
}

function kill(pid: number, sig: number): void {
  try {
    process.kill(pid, sig);
  } catch { /* exited meanwhile */ }
}

/**
 * 'main': the init forwards the signal to the main command (or to every process once the main
 * command is gone). 'all': every process of the container, as jail(8) -r does. SIGKILL to 'main'
 * kills the init, and the kernel then kills the whole pid namespace.
 */
export async function signalLinux(target: ContainerRef, sig: string, scope: 'main' | 'all'): Promise<void> {
  const n = signalNumber(sig);
  const init = target.pid ?? recordedPid(target.resources, 'init');
  if (scope === 'main' || n === 9) {
    if (init) kill(init, n);
    return;
  }
  const skip = new Set([init, recordedPid(target.resources, 'monitor')]);
  const set = cgroupSetFromResources(cgroupLayout(), target.resources);
  for (const p of cgroupPids(set)) if (!skip.has(p)) kill(p, n);
  // a container whose only process is its init (the command is gone or not started yet)
  if (init) kill(init, n);
}

function alive(pids: number[]): boolean {
  return pids.some((p) => {
    try {
      process.kill(p, 0);
      return true;
    } catch {
      return false;
    }
  });
}

/** Stop signal to every process, then SIGKILL after the timeout; resolves when all are gone. */
export async function stopLinux(target: ContainerRef, stopSignal: string, timeoutSec: number): Promise<void> {
  const set = cgroupSetFromResources(cgroupLayout(), target.resources);
  const watched = () => [...cgroupPids(set), ...[target.pid, recordedPid(target.resources, 'monitor')].filter((p): p is number => !!p)];
  if (!alive(watched())) return;
  await signalLinux(target, stopSignal, 'all');
  const deadline = Date.now() + timeoutSec * 1000;
  while (Date.now() < deadline) {
    if (!alive(watched())) return;
    await sleep(25);
  }
  const init = target.pid ?? recordedPid(target.resources, 'init');
  if (init) kill(init, 9);
  await killAll(set);
}

export function statsLinux(target: ContainerRef): Stats {
  const set = cgroupSetFromResources(cgroupLayout(), target.resources);
  const stats = cgroupStats(cgroupLayout(), set);
  // The init's namespace is the container's — while the pid is still the init's (pids get reused).
  const init = target.pid ?? recordedPid(target.resources, 'init');
  const net = init !== undefined && pidInCgroups(init, set.dirs) ? netnsIo(init) : undefined;
  if (net !== undefined) {
    stats.netRxBytes = net.rxBytes;
    stats.netTxBytes = net.txBytes;
  }
  return stats;
}

/** A recorded pid is ours only while it still sits in one of the container's cgroups (pids get reused). */
export function pidInCgroups(pid: number, cgroupDirs: string[]): boolean {
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/cgroup`, 'utf8');
  } catch {
    return false;
  }
  return cgroupDirs.some((d) => {
    const leaf = d.split('/').slice(-2).join('/');
    return text.includes(`/${leaf}\n`) || text.endsWith(`/${leaf}`);
  });
}
