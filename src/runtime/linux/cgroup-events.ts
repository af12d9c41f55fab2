import { existsSync, watch } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { CgroupLayout, CgroupSet } from './cgroup-layout.js';
import { read } from './cgroup-read.js';

export function cgroupPids(set: CgroupSet): number[] {
  const pids = new Set<number>();
  for (const d of set.dirs) {
    for (const l of (read(d, 'cgroup.procs') ?? '').split('\n')) if (l) pids.add(Number(l));
  }
  return [...pids];
}

export function pidsOfDir(dir: string): number[] {
  return (read(dir, 'cgroup.procs') ?? '').split('\n').filter(Boolean).map(Number);
}

export function oomKills(layout: CgroupLayout, set: CgroupSet): number {
  const text = layout.version === 2 ? read(set.memory, 'memory.events') : read(set.memory, 'memory.oom_control');
  const m = /oom_kill (\d+)/.exec(text ?? '');
  return m ? Number(m[1]) : 0;
}

/**
 * Resolve once no process is left in the run's cgroups. v2 `cgroup.events` (populated 0) is the
 * exact signal and fs.watch fires on it, even in the controller-less unified tree; polling
 * cgroup.procs is the fallback.
 */
export async function waitEmpty(set: CgroupSet, timeoutMs = 10_000): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  const empty = () => cgroupPids(set).length === 0;
  if (empty()) return true;
  if (set.unified && existsSync(join(set.unified, 'cgroup.events'))) {
    const events = join(set.unified, 'cgroup.events');
    const populated = () => /populated 1/.test(read(set.unified, 'cgroup.events') ?? 'populated 0');
    const done = await new Promise<boolean>((resolve) => {
      let w: ReturnType<typeof watch> | undefined;
      const finish = (v: boolean) => {
        clearTimeout(t);
        w?.close();
        resolve(v);
      };
      const t = setTimeout(() => finish(!populated()), Math.max(0, deadline - Date.now()));
      try {
        w = watch(events, () => {
          if (!populated()) finish(true);
        });
      } catch {
        finish(false);
        return;
      }
      if (!populated()) finish(true);
    });
    if (done && empty()) return true;
  }
  while (Date.now() < deadline) {
    if (empty()) return true;
    await sleep(20);
  }
  return empty();
}
