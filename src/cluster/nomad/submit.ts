import type { ContainerSpec } from '../../spec/index.js';
import { VesselError } from '../../util/index.js';
import type { Submission, SubmitOptions } from '../backend.js';
import type { NomadClient } from './api.js';
import { nomadJob } from './job.js';
import { allocationInstance, watchAllocations } from './status.js';
import type {
  NomadAllocationListStub,
  NomadAllocationMetric,
  NomadEvaluation,
  NomadJobRegisterRequest,
  NomadJobRegisterResponse,
} from './types.js';

const EVAL_TIMEOUT_MS = 60_000;

function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? '' : 's'}`;
}

/**
 * Why a task group could not be placed, in the words of the scheduler's AllocationMetric
 * (the same counters `nomad job status` prints as "Placement Failure").
 */
export function describePlacementFailure(group: string, m: NomadAllocationMetric): string {
  const reasons: string[] = [];
  if (m.NodesEvaluated === 0 && !m.NodesInPool) reasons.push('no nodes in the eligible datacenters/node pool');
  for (const [c, n] of Object.entries(m.ConstraintFiltered ?? {})) reasons.push(`${plural(n, 'node')} filtered by constraint ${c}`);
  for (const [c, n] of Object.entries(m.ClassFiltered ?? {})) reasons.push(`${plural(n, 'node')} of class ${c} filtered`);
  for (const [d, n] of Object.entries(m.DimensionExhausted ?? {})) reasons.push(`${d} exhausted on ${plural(n, 'node')}`);
  for (const q of m.QuotaExhausted ?? []) reasons.push(`quota ${q} exhausted`);
  if (reasons.length === 0 && m.NodesExhausted > 0) reasons.push(`resources exhausted on ${plural(m.NodesExhausted, 'node')}`);
  if (reasons.length === 0) reasons.push(`${m.NodesEvaluated} evaluated, ${m.NodesFiltered} filtered, ${m.NodesExhausted} exhausted`);
  const more = m.CoalescedFailures ? ` (${m.CoalescedFailures + 1} allocations)` : '';
  return `task group ${group} cannot be placed${more}: ${reasons.join('; ')}`;
}

/** Waits for the scheduler to finish the evaluation (blocking queries on its index). */
export async function awaitEvaluation(client: NomadClient, evalId: string, timeoutMs = EVAL_TIMEOUT_MS): Promise<NomadEvaluation> {
  const deadline = Date.now() + timeoutMs;
  let r = await client.get<NomadEvaluation>(`/v1/evaluation/${encodeURIComponent(evalId)}`);
  while (r.body.Status === 'pending') {
    const left = deadline - Date.now();
    if (left <= 0) {
      throw new VesselError('E_CLUSTER', `nomad evaluation ${evalId}: still pending after ${Math.round(timeoutMs / 1000)} s`, {
        hint: 'the schedulers are busy or no leader is elected; `vessel cluster status` shows the job later',
      });
    }
    r = await client.get<NomadEvaluation>(`/v1/evaluation/${encodeURIComponent(evalId)}`, { index: r.index, waitMs: Math.min(left, 30_000) });
  }
  return r.body;
}

/** Throws the scheduler's reason when the evaluation could not place every allocation. */
export function checkEvaluation(jobId: string, ev: NomadEvaluation): void {
  const failed = Object.entries(ev.FailedTGAllocs ?? {});
  if (failed.length > 0) {
    const why = failed.map(([g, m]) => describePlacementFailure(g, m)).join('; ');
    throw new VesselError('E_CLUSTER', `nomad job ${jobId}: ${why}`, {
      hint: ev.BlockedEval
        ? `the job stays registered and blocked (evaluation ${ev.BlockedEval}) until capacity appears; \`vessel cluster stop ${jobId}\` removes it`
        : `\`vessel cluster stop ${jobId}\` removes the job`,
    });
  }
  if (ev.Status === 'failed' || ev.Status === 'canceled' || ev.Status === 'blocked') {
    throw new VesselError('E_CLUSTER', `nomad job ${jobId}: evaluation ${ev.ID} ${ev.Status}${ev.StatusDescription ? `: ${ev.StatusDescription}` : ''}`);
  }
}

function allPlaced(count: number): (allocs: NomadAllocationListStub[]) => boolean {
  return (allocs) => {
    const wanted = allocs.filter((a) => a.DesiredStatus === 'run');
    // A batch job may already be done; a failed allocation with no follow-up will not become running.
    const settled = wanted.filter((a) => a.ClientStatus === 'running' || a.ClientStatus === 'complete' ||
      (a.ClientStatus === 'failed' && !a.NextAllocation && !a.FollowupEvalID));
    return settled.length >= count;
  };
}

export async function nomadSubmit(client: NomadClient, spec: ContainerSpec, opts: SubmitOptions): Promise<Submission> {
  // Rendering validates: a spec Nomad cannot express fails here, before any request.
  const body: NomadJobRegisterRequest = { Job: nomadJob(spec, opts) };
  const reg = await client.post<NomadJobRegisterResponse>('/v1/jobs', body);
  const jobId = body.Job.ID;
  const sub: Submission = { backend: 'nomad', name: spec.name, jobId, instances: [] };
  if (!reg.body.EvalID) return sub; // periodic/parameterized jobs get no evaluation; vessel renders neither
  sub.evalId = reg.body.EvalID;
  const ev = await awaitEvaluation(client, reg.body.EvalID);
  checkEvaluation(jobId, ev);
  const waitMs = opts.waitMs ?? 0;
  if (waitMs <= 0) return sub;
  const { allocs } = await watchAllocations(client, jobId, allPlaced(opts.count), waitMs);
  sub.instances = allocs.filter((a) => a.DesiredStatus === 'run').map((a) => allocationInstance(spec.name, a));
  const failed = allocs.find((a) => a.DesiredStatus === 'run' && a.ClientStatus === 'failed' && !a.NextAllocation && !a.FollowupEvalID);
  if (failed) {
    const inst = allocationInstance(spec.name, failed);
    throw new VesselError('E_CLUSTER', `nomad job ${jobId}: allocation ${failed.ID} failed on ${failed.NodeName || 'its node'}` +
      `${inst.exitCode === undefined ? '' : ` (exit ${inst.exitCode})`}${inst.detail ? `: ${inst.detail}` : ''}`);
  }
  return sub;
}
