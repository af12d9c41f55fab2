import { VesselError, isVesselError } from '../../util/index.js';
import { instanceName, type InstanceStatus, type JobStatus } from '../backend.js';
import type { NomadClient } from './api.js';
import type { NomadAllocationListStub, NomadJobInfo, NomadTaskState } from './types.js';

/** The one task of vessel's group is named after the spec (see job.ts). */
function taskState(a: NomadAllocationListStub): NomadTaskState | undefined {
  const states = a.TaskStates ?? {};
  return states[a.TaskGroup] ?? Object.values(states)[0];
}

/** The application's exit code: the last Terminated event (Details.exit_code since Nomad 0.11). */
export function exitCodeOf(state: NomadTaskState | undefined): number | undefined {
  const events = state?.Events ?? [];
  for (let i = events.length - 1; i >= 0; i--) {
    const e = events[i]!;
    if (e.Type !== 'Terminated') continue;
    const fromDetails = e.Details?.exit_code;
    if (fromDetails !== undefined && /^-?\d+$/.test(fromDetails)) return Number(fromDetails);
    if (typeof e.ExitCode === 'number') return e.ExitCode;
  }
  return undefined;
}

const STATES: Record<string, InstanceStatus['state']> = {
  pending: 'pending',
  running: 'running',
  complete: 'complete',
  failed: 'failed',
  lost: 'lost',
  // "unknown": the node stopped heartbeating but may come back (disconnect block).
  unknown: 'lost',
};

export function allocationInstance(specName: string, a: NomadAllocationListStub): InstanceStatus {
  const ts = taskState(a);
  const out: InstanceStatus = {
    id: a.ID,
    instance: instanceName('nomad', specName, a.ID),
    state: STATES[a.ClientStatus] ?? 'pending',
    restarts: ts?.Restarts ?? 0,
  };
  if (a.NodeName) out.node = a.NodeName;
  const code = exitCodeOf(ts);
  if (code !== undefined) out.exitCode = code;
  const events = ts?.Events ?? [];
  const lastMessage = events.length > 0 ? events[events.length - 1]!.DisplayMessage : undefined;
  const detail = a.ClientDescription || a.DesiredDescription || lastMessage;
  if (detail) out.detail = detail;
  return out;
}

export function isTerminal(a: NomadAllocationListStub): boolean {
  return a.ClientStatus === 'complete' || a.ClientStatus === 'failed' || a.ClientStatus === 'lost';
}

export async function jobAllocations(client: NomadClient, jobId: string, index?: number, waitMs?: number): Promise<{ allocs: NomadAllocationListStub[]; index: number }> {
  const q: { index?: number; waitMs?: number; params: Record<string, string> } = { params: { all: 'true' } };
  if (index !== undefined) q.index = index;
  if (waitMs !== undefined) q.waitMs = waitMs;
  const r = await client.get<NomadAllocationListStub[] | null>(`/v1/job/${encodeURIComponent(jobId)}/allocations`, q);
  // api/jobs.go sorts by CreateIndex (AllocIndexSort, newest first); keep oldest first for people.
  const allocs = [...(r.body ?? [])].sort((x, y) => x.CreateIndex - y.CreateIndex);
  return { allocs, index: r.index };
}

/**
 * Follows a job's allocations with blocking queries until `done` says so or `timeoutMs` passes;
 * returns the last list seen. Each round asks for changes after the last X-Nomad-Index.
 */
export async function watchAllocations(
  client: NomadClient,
  jobId: string,
  done: (allocs: NomadAllocationListStub[]) => boolean,
  timeoutMs: number,
  onChange?: (allocs: NomadAllocationListStub[]) => void,
): Promise<{ allocs: NomadAllocationListStub[]; done: boolean }> {
  const deadline = Date.now() + timeoutMs;
  let { allocs, index } = await jobAllocations(client, jobId);
  onChange?.(allocs);
  while (!done(allocs)) {
    const left = deadline - Date.now();
    if (left <= 0) return { allocs, done: false };
    const next = await jobAllocations(client, jobId, index, Math.min(left, 60_000));
    if (next.index !== index) onChange?.(next.allocs);
    // An index that went backwards means the server restarted its state: start over from it.
    index = next.index;
    allocs = next.allocs;
  }
  return { allocs, done: true };
}

export async function nomadStatus(client: NomadClient, name: string): Promise<JobStatus> {
  let job: NomadJobInfo;
  try {
    job = (await client.get<NomadJobInfo>(`/v1/job/${encodeURIComponent(name)}`)).body;
  } catch (e) {
    if (isVesselError(e) && e.code === 'E_NOT_FOUND') {
      throw new VesselError('E_NOT_FOUND', `nomad job ${name}: no such job at ${client.config.address}`, {
        hint: client.config.namespace ? `namespace ${client.config.namespace} (NOMAD_NAMESPACE)` : undefined,
      });
    }
    throw e;
  }
  const { allocs } = await jobAllocations(client, name);
  return {
    backend: 'nomad',
    name,
    state: job.Stop ? `${job.Status} (stopped)` : job.Status,
    instances: allocs.map((a) => allocationInstance(name, a)),
  };
}
