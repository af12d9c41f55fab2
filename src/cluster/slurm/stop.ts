import { VesselError, run } from '../../util/index.js';
import type { StopOptions, StopResult } from '../backend.js';
import { squeueRows, type SlurmJobRow } from './status.js';

const POLL_MS = 500;
const LIVE = new Set(['PENDING', 'RUNNING', 'CONFIGURING', 'COMPLETING', 'SUSPENDED', 'STOPPED', 'REQUEUED', 'REQUEUE_HOLD', 'REQUEUE_FED', 'RESIZING', 'SIGNALING', 'STAGE_OUT']);

function live(rows: readonly SlurmJobRow[], name: string): SlurmJobRow[] {
  return rows.filter((r) => r.name === name && LIVE.has(r.state) && (r.comment === undefined || r.comment === '' || r.comment === 'vessel'));
}

/**
 * `scancel` every job of this name: slurmd sends SIGTERM to the job's processes, vessel stops
 * the container and cleans up, and SIGKILL follows after the cluster's KillWait. Waits until
 * Slurm no longer lists any of them as alive (COMPLETING ends when every process is gone).
 */
export async function slurmStop(name: string, opts: StopOptions = {}): Promise<StopResult> {
  const before = live(await squeueRows(name), name);
  if (before.length === 0) {
    const any = (await squeueRows(name)).some((r) => r.name === name);
    if (!any) throw new VesselError('E_NOT_FOUND', `slurm job ${name}: no such job in squeue`);
    return { backend: 'slurm', name, stopped: [] };
  }
  const ids = [...new Set(before.map((r) => r.jobId))];
  await run(['scancel', ...ids]);
  const waitMs = opts.waitMs ?? 120_000;
  const deadline = Date.now() + waitMs;
  while (waitMs > 0) {
    const left = live(await squeueRows(name), name).filter((r) => ids.includes(r.jobId));
    if (left.length === 0) break;
    if (Date.now() >= deadline) {
      throw new VesselError('E_CLUSTER', `slurm job ${name}: cancelled, but ${left.map((r) => `${r.jobId} (${r.state})`).join(', ')} still alive after ${Math.round(waitMs / 1000)} s`);
    }
    await new Promise((res) => setTimeout(res, POLL_MS));
  }
  return { backend: 'slurm', name, stopped: ids };
}
