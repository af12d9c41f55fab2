import type { StopOptions, StopResult } from '../backend.js';
import type { NomadClient } from './api.js';
import { isTerminal, jobAllocations, watchAllocations } from './status.js';
import type { NomadJobDeregisterResponse } from './types.js';
import { VesselError } from '../../util/index.js';

/**
 * Deregisters the job (DELETE /v1/job/:id, not purged: `nomad job status` keeps its history) and
 * waits until every allocation is terminal, i.e. each node's vessel has stopped and cleaned up.
 */
export async function nomadStop(client: NomadClient, name: string, opts: StopOptions = {}): Promise<StopResult> {
  const path = `/v1/job/${encodeURIComponent(name)}`;
  const before = await jobAllocations(client, name).catch((e: unknown) => {
    if (e instanceof VesselError && e.code === 'E_NOT_FOUND') {
      throw new VesselError('E_NOT_FOUND', `nomad job ${name}: no such job at ${client.config.address}`);
    }
    throw e;
  });
  const live = before.allocs.filter((a) => !isTerminal(a)).map((a) => a.ID);
  await client.delete<NomadJobDeregisterResponse>(path);
  const waitMs = opts.waitMs ?? 60_000;
  if (waitMs > 0 && live.length > 0) {
    const { done, allocs } = await watchAllocations(client, name, (list) => list.every(isTerminal), waitMs);
    if (!done) {
      const left = allocs.filter((a) => !isTerminal(a)).map((a) => `${a.ID.slice(0, 8)} on ${a.NodeName || '?'}`);
      throw new VesselError('E_CLUSTER', `nomad job ${name}: deregistered, but ${left.join(', ')} still running after ${Math.round(waitMs / 1000)} s`);
    }
  }
  return { backend: 'nomad', name, stopped: live };
}
