import type { ContainerSpec } from '../../spec/index.js';
import { VesselError, run } from '../../util/index.js';
import type { Submission, SubmitOptions } from '../backend.js';
import { renderSbatchScript } from './script.js';
import { latestSubmission, rowInstance, squeueRows, type SlurmJobRow } from './status.js';

const POLL_MS = 500;

/** `sbatch --parsable` prints "JOBID" or "JOBID;CLUSTER". */
export function parseSbatchParsable(stdout: string): string {
  const m = /^(\d+)(;\S+)?\s*$/.exec(stdout.trim());
  if (!m) throw new VesselError('E_CLUSTER', `sbatch --parsable: unexpected answer ${JSON.stringify(stdout.trim().slice(0, 80))}`);
  return m[1]!;
}

function settled(rows: readonly SlurmJobRow[], count: number): boolean {
  return rows.length >= count && rows.every((r) => r.state !== 'PENDING' && r.state !== 'CONFIGURING');
}

/**
 * Hands the script to sbatch on stdin. Slurm has no blocking queries, so waiting for the
 * instances to start polls squeue.
 */
export async function slurmSubmit(spec: ContainerSpec, opts: SubmitOptions): Promise<Submission> {
  const script = renderSbatchScript(spec, opts);
  const r = await run(['sbatch', '--parsable'], { input: script, allowFailure: true });
  if (r.exitCode !== 0) {
    throw new VesselError('E_CLUSTER', `sbatch: ${r.stderr.trim().split('\n').pop() ?? `exited ${r.exitCode}`}`, {
      hint: 'check the partition, constraint and limits against `sinfo`',
    });
  }
  const jobId = parseSbatchParsable(r.stdout);
  const sub: Submission = { backend: 'slurm', name: spec.name, jobId, instances: [] };
  const waitMs = opts.waitMs ?? 0;
  const deadline = Date.now() + waitMs;
  let rows: SlurmJobRow[] = [];
  while (waitMs > 0) {
    rows = latestSubmission(await squeueRows(spec.name), spec.name, jobId);
    if (settled(rows, opts.count) || Date.now() >= deadline) break;
    await new Promise((res) => setTimeout(res, POLL_MS));
  }
  sub.instances = rows.map((row) => rowInstance(spec.name, row));
  return sub;
}
