import { spawn } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseSpecText } from '../../src/spec/index.js';
import { renderSbatchScript } from '../../src/cluster/slurm/index.js';
import { parseSacct, parseSqueueJson, waitStatusToExitCode, SACCT_COMPLETION_FIELDS, SACCT_FIELDS } from '../../src/cluster/slurm/status.js';
import { parseSbatchParsable } from '../../src/cluster/slurm/submit.js';
import { heredocDelimiter } from '../../src/cluster/slurm/script.js';

/**
 * The sbatch script's wrapper, run by a real /bin/sh with stand-ins for the two programs it calls
 * on a node (vessel and scontrol), the way slurmd runs it: SLURM_JOB_ID, SLURM_RESTART_COUNT set.
 * And the parsers of squeue --json / sacct -P output, on text captured from Slurm 22.05.
 */
let dir: string;
let fakeVessel: string;

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'vessel-sbatch-'));
  fakeVessel = join(dir, 'vessel');
  // Records its argv and the spec file it was given, then behaves as FAKE_MODE says.
  writeFileSync(fakeVessel, `#!/bin/sh
echo "$@" > "$LOG/vessel.args"
cp "$3" "$LOG/spec.ini"
case "$FAKE_MODE" in
  wait) trap 'echo term > "$LOG/vessel.term"; exit 143' TERM; echo ready > "$LOG/ready"; while :; do sleep 0.05; done ;;
  *) exit "$FAKE_RC" ;;
esac
`);
  chmodSync(fakeVessel, 0o755);
  writeFileSync(join(dir, 'scontrol'), '#!/bin/sh\necho "$@" >> "$LOG/scontrol.calls"\n');
  chmodSync(join(dir, 'scontrol'), 0o755);
});

afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

interface Outcome { code: number | null; scontrol: string; spec: string; args: string; specDirsLeft: string[]; stderr: string }

async function runScript(restart: string, env: Record<string, string>, opts: { signalWhenReady?: NodeJS.Signals } = {}): Promise<Outcome> {
  const spec = parseSpecText(`[container]\nimage = busybox\ncommand = sh -c 'exit 0'\nrestart = ${restart}\n`, { file: 'job.ini' });
  const script = renderSbatchScript(spec, { count: 1, vesselBin: fakeVessel });
  const log = mkdtempSync(join(dir, 'run-'));
  const tmp = join(log, 'tmp');
  const { mkdirSync } = await import('node:fs');
  mkdirSync(tmp);
  const scriptFile = join(log, 'job.sbatch');
  writeFileSync(scriptFile, script);
  const child = spawn('/bin/sh', [scriptFile], {
    env: { PATH: `${dir}:/usr/bin:/bin`, LOG: log, TMPDIR: tmp, SLURM_JOB_ID: '42', SLURMD_NODENAME: 'node1', FAKE_RC: '0', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  if (opts.signalWhenReady) {
    const ready = join(log, 'ready');
    while (!existsSync(ready)) await new Promise((r) => setTimeout(r, 20));
    child.kill(opts.signalWhenReady);
  }
  const code = await new Promise<number | null>((res) => child.on('exit', (c) => res(c)));
  const read = (f: string) => (existsSync(join(log, f)) ? readFileSync(join(log, f), 'utf8') : '');
  return { code, scontrol: read('scontrol.calls'), spec: read('spec.ini'), args: read('vessel.args'), specDirsLeft: readdirSync(tmp), stderr };
}

describe('sbatch script wrapper', () => {
  it('runs vessel run --foreground on the embedded spec and exits with its code', async () => {
    const o = await runScript('no', { FAKE_RC: '3' });
    expect(o.code).toBe(3);
    expect(o.args.trim()).toMatch(/^run --foreground .*\/vessel-slurm\.\w+\/job\.ini$/);
    expect(parseSpecText(o.spec, { file: 'job.ini' }).command).toEqual(['sh', '-c', 'exit 0']);
    expect(o.scontrol).toBe('');
    expect(o.specDirsLeft).toEqual([]);
  });

  it('on-failure: a non-zero exit (vessel killed: 137) requeues the job', async () => {
    const o = await runScript('on-failure', { FAKE_RC: '137' });
    expect(o.code).toBe(137);
    expect(o.scontrol).toBe('requeue 42\n');
    expect(o.stderr).toMatch(/job exited 137 on node1; requeueing job 42 \(restart = on-failure\)/);
    expect(o.specDirsLeft).toEqual([]);
  });

  it('on-failure: exit 0 is done', async () => {
    expect((await runScript('on-failure', { FAKE_RC: '0' })).scontrol).toBe('');
  });

  it('on-failure:2 stops requeueing after two restarts', async () => {
    expect((await runScript('on-failure:2', { FAKE_RC: '1', SLURM_RESTART_COUNT: '1' })).scontrol).toBe('requeue 42\n');
    expect((await runScript('on-failure:2', { FAKE_RC: '1', SLURM_RESTART_COUNT: '2' })).scontrol).toBe('');
  });

  it('always: even exit 0 runs again', async () => {
    expect((await runScript('always', { FAKE_RC: '0' })).scontrol).toBe('requeue 42\n');
  });

  it('SIGTERM (scancel) reaches vessel, and a cancelled job is not requeued', async () => {
    const o = await runScript('always', { FAKE_MODE: 'wait' }, { signalWhenReady: 'SIGTERM' });
    expect(o.code).toBe(143);
    expect(o.scontrol).toBe('');
    expect(o.specDirsLeft).toEqual([]);
  });

  it('picks a heredoc delimiter the spec text does not contain', () => {
    expect(heredocDelimiter('a = b\n')).toBe('VESSEL_SPEC');
    expect(heredocDelimiter('a = b\nVESSEL_SPEC\nVESSEL_SPEC_2\n')).toBe('VESSEL_SPEC_3');
  });
});

describe('slurm output parsers', () => {
  it('squeue --json (22.05: raw wait status, state strings)', () => {
    const text = JSON.stringify({
      meta: { Slurm: { release: '22.05.8' } }, errors: [],
      jobs: [
        { job_id: 2, array_job_id: 1, array_task_id: 0, name: 't1', job_state: 'FAILED', nodes: 'node1', exit_code: 768, restart_cnt: 0, state_reason: 'NonZeroExitCode', comment: 'vessel' },
        { job_id: 1, array_job_id: 1, array_task_id: 1, name: 't1', job_state: 'RUNNING', nodes: 'node2', exit_code: 0, restart_cnt: 1, state_reason: 'None', comment: 'vessel' },
        { job_id: 3, array_job_id: 0, name: 't1', job_state: 'CANCELLED', nodes: 'node2', exit_code: 15, restart_cnt: 0, state_reason: 'None', comment: '' },
      ],
    });
    expect(parseSqueueJson(text)).toEqual([
      { jobId: '2', arrayJobId: '1', name: 't1', state: 'FAILED', node: 'node1', exitCode: 3, restarts: 0, reason: 'NonZeroExitCode', comment: 'vessel' },
      { jobId: '1', arrayJobId: '1', name: 't1', state: 'RUNNING', node: 'node2', restarts: 1, comment: 'vessel' },
      { jobId: '3', arrayJobId: '3', name: 't1', state: 'CANCELLED', node: 'node2', exitCode: 143, restarts: 0, comment: '' },
    ]);
  });

  it('squeue --json (23.02+: state lists, wrapped numbers, exit_code objects)', () => {
    const text = JSON.stringify({
      jobs: [{ job_id: 7, array_job_id: { set: true, infinite: false, number: 0 }, name: 'w', job_state: ['COMPLETED'], nodes: 'n1',
        exit_code: { status: ['EXITED'], return_code: { set: true, infinite: false, number: 5 } }, restart_cnt: 2 }],
    });
    expect(parseSqueueJson(text)[0]).toMatchObject({ jobId: '7', arrayJobId: '7', state: 'COMPLETED', exitCode: 5, restarts: 2 });
  });

  it('wait statuses', () => {
    expect(waitStatusToExitCode(3 << 8)).toBe(3);
    expect(waitStatusToExitCode(9)).toBe(137);
    expect(waitStatusToExitCode(0)).toBe(0);
  });

  it('sacct -P with accounting, and the job completion log (sacct -c)', () => {
    const acct = '12_0|13|web|COMPLETED|0:0|node1|vessel\n12_1|12|web|FAILED|3:0|node2|vessel\n12_1.batch|12.batch|batch|FAILED|3:0|node2|\n14|14|web|CANCELLED by 0|0:15|node1|vessel\n';
    expect(parseSacct(acct, SACCT_FIELDS).map((r) => [r.jobId, r.arrayJobId, r.state, r.exitCode])).toEqual([
      ['13', '12', 'COMPLETED', 0], ['12', '12', 'FAILED', 3], ['14', '14', 'CANCELLED', 143],
    ]);
    // as Slurm 22.05's sacct -c printed it for the test cluster
    expect(parseSacct('1|t1|FAILED|3:0|node2\n2|t1|FAILED|3:0|node1\n', SACCT_COMPLETION_FIELDS).map((r) => [r.jobId, r.node, r.exitCode])).toEqual([
      ['1', 'node2', 3], ['2', 'node1', 3],
    ]);
  });

  it('sbatch --parsable', () => {
    expect(parseSbatchParsable('42\n')).toBe('42');
    expect(parseSbatchParsable('42;cluster1\n')).toBe('42');
    expect(() => parseSbatchParsable('Submitted batch job 42')).toThrow(/unexpected answer/);
  });
});
