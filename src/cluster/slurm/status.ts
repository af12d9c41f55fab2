import { run, VesselError } from '../../util/index.js';
import { instanceName, type InstanceStatus, type JobStatus } from '../backend.js';

/**
 * A job's state from Slurm itself: `squeue --json` while slurmctld still holds the job (running,
 * pending, and finished ones for MinJobAge), `sacct -P` after that (slurmdbd), or `sacct -c -P`
 * (the job completion log) on clusters without accounting.
 */

/** One job (one array task) as vessel reads it, whatever the Slurm version printed. */
export interface SlurmJobRow {
  jobId: string;
  /** The array's job ID (= jobId for a plain job): one `vessel cluster submit`. */
  arrayJobId: string;
  name: string;
  state: string;
  node?: string;
  exitCode?: number;
  restarts: number;
  reason?: string;
  comment?: string;
}

/** A raw wait(2) status (squeue --json in 22.05) → a shell-style exit code. */
export function waitStatusToExitCode(status: number): number {
  const sig = status & 0x7f;
  return sig !== 0 ? 128 + sig : (status >> 8) & 0xff;
}

/** sacct's ExitCode "code:signal". */
export function sacctExitCode(text: string): number | undefined {
  const m = /^(\d+):(\d+)$/.exec(text.trim());
  if (!m) return undefined;
  return Number(m[2]) !== 0 ? 128 + Number(m[2]) : Number(m[1]);
}

function num(v: unknown): number | undefined {
  if (typeof v === 'number') return v;
  // Slurm ≥ 23.02 wraps numbers: { set, infinite, number }.
  if (v && typeof v === 'object' && 'number' in v && typeof (v as { number: unknown }).number === 'number') {
    return (v as { number: number }).number;
  }
  return undefined;
}

function exitFromJson(v: unknown): number | undefined {
  if (typeof v === 'number') return waitStatusToExitCode(v);
  if (v && typeof v === 'object') {
    // Slurm ≥ 23.02: { status: [...], return_code: N|{number}, signal: { id: N|{number} } }
    const o = v as { return_code?: unknown; signal?: { id?: unknown } };
    const sig = num(o.signal?.id);
    if (sig !== undefined && sig !== 0) return 128 + sig;
    return num(o.return_code);
  }
  return undefined;
}

const FINISHED = new Set(['COMPLETED', 'FAILED', 'CANCELLED', 'TIMEOUT', 'OUT_OF_MEMORY', 'NODE_FAIL', 'BOOT_FAIL', 'DEADLINE', 'PREEMPTED']);

export function parseSqueueJson(text: string): SlurmJobRow[] {
  let doc: { jobs?: Array<Record<string, unknown>>; errors?: Array<{ error?: string; description?: string }> };
  try {
    doc = JSON.parse(text) as typeof doc;
  } catch {
    throw new VesselError('E_CLUSTER', `squeue --json: answer is not JSON: ${text.slice(0, 120)}`);
  }
  return (doc.jobs ?? []).map((j) => {
    const rawState = j.job_state;
    const state = (Array.isArray(rawState) ? String(rawState[0] ?? '') : String(rawState ?? '')).toUpperCase();
    const jobId = String(num(j.job_id) ?? '');
    const arrayJobId = num(j.array_job_id);
    const row: SlurmJobRow = {
      jobId,
      arrayJobId: arrayJobId !== undefined && arrayJobId !== 0 ? String(arrayJobId) : jobId,
      name: String(j.name ?? ''),
      state,
      restarts: num(j.restart_cnt) ?? 0,
    };
    const node = String(j.nodes ?? j.batch_host ?? '');
    if (node) row.node = node;
    if (FINISHED.has(state)) {
      const code = exitFromJson(j.exit_code);
      if (code !== undefined) row.exitCode = code;
    }
    if (typeof j.state_reason === 'string' && j.state_reason !== 'None') row.reason = j.state_reason;
    if (typeof j.comment === 'string') row.comment = j.comment;
    return row;
  });
}

export const SACCT_FIELDS = ['JobID', 'JobIDRaw', 'JobName', 'State', 'ExitCode', 'NodeList', 'Comment'];
/** The job completion log knows fewer fields (no JobIDRaw, no Comment). */
export const SACCT_COMPLETION_FIELDS = ['JobID', 'JobName', 'State', 'ExitCode', 'NodeList'];

/** `sacct -P -n -o FIELDS` lines (pipe-separated, in FIELDS order). */
export function parseSacct(text: string, fields: readonly string[]): SlurmJobRow[] {
  const rows: SlurmJobRow[] = [];
  for (const line of text.split('\n')) {
    if (!line.trim() || !line.includes('|')) continue;
    const cols = line.split('|');
    const get = (f: string): string => cols[fields.indexOf(f)] ?? '';
    const jobIdText = get('JobID');
    if (jobIdText.includes('.')) continue; // job steps (12.batch): the job's own line says it all
    const raw = fields.includes('JobIDRaw') ? get('JobIDRaw') : jobIdText;
    const arr = /^(\d+)_/.exec(jobIdText);
    const state = (get('State').split(' ')[0] ?? '').toUpperCase();
    const row: SlurmJobRow = { jobId: raw, arrayJobId: arr ? arr[1]! : raw, name: get('JobName'), state, restarts: 0 };
    const node = get('NodeList');
    if (node && node !== 'None assigned' && node !== '(null)') row.node = node;
    const code = sacctExitCode(get('ExitCode'));
    if (code !== undefined && FINISHED.has(state)) row.exitCode = code;
    if (fields.includes('Comment')) row.comment = get('Comment');
    rows.push(row);
  }
  return rows;
}

function instanceState(row: SlurmJobRow): InstanceStatus['state'] {
  switch (row.state) {
    case 'PENDING':
      return row.restarts > 0 ? 'requeued' : 'pending';
    case 'RUNNING': case 'CONFIGURING': case 'COMPLETING': case 'SUSPENDED': case 'STOPPED': case 'RESIZING': case 'SIGNALING': case 'STAGE_OUT':
      return 'running';
    case 'COMPLETED':
      return 'complete';
    case 'CANCELLED':
      return 'cancelled';
    case 'NODE_FAIL': case 'BOOT_FAIL':
      return 'lost';
    case 'REQUEUED': case 'REQUEUE_FED': case 'REQUEUE_HOLD': case 'PREEMPTED':
      return 'requeued';
    default:
      return 'failed';
  }
}

export function rowInstance(specName: string, row: SlurmJobRow): InstanceStatus {
  const out: InstanceStatus = { id: row.jobId, instance: instanceName('slurm', specName, row.jobId), state: instanceState(row), restarts: row.restarts };
  if (row.node) out.node = row.node;
  if (row.exitCode !== undefined) out.exitCode = row.exitCode;
  if (row.reason) out.detail = row.reason;
  return out;
}

const ORDER: Array<InstanceStatus['state']> = ['running', 'requeued', 'pending', 'failed', 'lost', 'cancelled', 'complete'];

/** The newest submission's rows (highest array job ID), oldest task first. */
export function latestSubmission(rows: readonly SlurmJobRow[], name: string, jobId?: string): SlurmJobRow[] {
  const mine = rows.filter((r) => r.name === name && (r.comment === undefined || r.comment === '' || r.comment === 'vessel'));
  if (mine.length === 0) return [];
  const pick = jobId ?? mine.map((r) => r.arrayJobId).sort((a, b) => Number(b) - Number(a))[0]!;
  return mine.filter((r) => r.arrayJobId === pick).sort((a, b) => Number(a.jobId) - Number(b.jobId));
}

export function jobStatusFromRows(name: string, rows: readonly SlurmJobRow[]): JobStatus {
  const instances = rows.map((r) => rowInstance(name, r));
  const state = ORDER.find((s) => instances.some((i) => i.state === s)) ?? 'unknown';
  return { backend: 'slurm', name, state, instances };
}

export async function squeueRows(name: string): Promise<SlurmJobRow[]> {
  const r = await run(['squeue', '--json', `--name=${name}`, '--states=all'], { allowFailure: true });
  if (r.exitCode !== 0) {
    throw new VesselError('E_CLUSTER', `squeue --json --name=${name}: exited ${r.exitCode}: ${r.stderr.trim().split('\n').pop() ?? ''}`, {
      hint: 'is slurmctld reachable from here (SLURM_CONF, munge)?',
    });
  }
  return parseSqueueJson(r.stdout);
}

export async function sacctRows(name: string): Promise<SlurmJobRow[]> {
  const common = ['-P', '-n', `--name=${name}`, '--starttime=now-30days'];
  const acct = await run(['sacct', '-X', ...common, '-o', SACCT_FIELDS.join(',')], { allowFailure: true });
  if (acct.exitCode === 0 && !/accounting storage is disabled/i.test(acct.stderr + acct.stdout)) {
    return parseSacct(acct.stdout, SACCT_FIELDS);
  }
  // Without slurmdbd, the job completion log (JobCompType=jobcomp/filetxt) still has exit codes.
  const comp = await run(['sacct', '-c', ...common, '-o', SACCT_COMPLETION_FIELDS.join(',')], { allowFailure: true });
  return comp.exitCode === 0 ? parseSacct(comp.stdout, SACCT_COMPLETION_FIELDS) : [];
}

export async function slurmStatus(name: string, jobId?: string): Promise<JobStatus> {
  let rows = latestSubmission(await squeueRows(name), name, jobId);
  if (rows.length === 0) rows = latestSubmission(await sacctRows(name), name, jobId);
  if (rows.length === 0) {
    throw new VesselError('E_NOT_FOUND', `slurm job ${name}: no such job in squeue or sacct`);
  }
  return jobStatusFromRows(name, rows);
}
