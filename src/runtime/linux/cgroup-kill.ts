import { existsSync, rmdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { VesselError, hasErrno } from '../../util/index.js';
import type { CgroupSet } from './cgroup-layout.js';
import { cgroupPids, pidsOfDir } from './cgroup-events.js';

/** SIGKILL everything in the run's cgroups (cgroup.kill on v2; otherwise pid by pid until empty). */
export async function killAll(set: CgroupSet): Promise<void> {
  if (set.unified && existsSync(join(set.unified, 'cgroup.kill'))) {
    try {
      writeFileSync(join(set.unified, 'cgroup.kill'), '1');
    } catch { /* removed meanwhile */ }
  }
  for (let i = 0; i < 50; i++) {
    const pids = cgroupPids(set);
    if (pids.length === 0) return;
    for (const p of pids) {
      try { process.kill(p, 'SIGKILL'); } catch { /* already gone */ }
    }
    await sleep(20);
  }
}

/** Remove one cgroup directory; missing is fine, busy is retried briefly (tasks being reaped). */
export async function removeCgroupDir(dir: string): Promise<void> {
  for (let i = 0; i < 100; i++) {
    try {
      rmdirSync(dir);
      return;
    } catch (e) {
      if (hasErrno(e, 'ENOENT')) return;
      if (!hasErrno(e, 'EBUSY')) throw new VesselError('E_RUNTIME', `cannot remove cgroup ${dir}: ${(e as Error).message}`);
      for (const p of pidsOfDir(dir)) {
        try { process.kill(p, 'SIGKILL'); } catch { /* gone */ }
      }
      await sleep(30);
    }
  }
  throw new VesselError('E_RUNTIME', `cannot remove cgroup ${dir}: still busy`);
}
