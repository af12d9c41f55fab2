import { describe, expect, it } from 'vitest';
import { formatPs, mergePs } from '../../src/emperor/ps.js';
import { stateFixture } from '../helpers/state.js';
import { HEALTH_LOG_ENTRIES, inspectView, nextHealth } from '../../src/supervise/index.js';
import type { ContainerState, HealthProbe, HealthState } from '../../src/supervise/types.js';

/**
 * Issue 16: the health vocabulary of the state file (docker's State.Health), as `vessel ps` and
 * `vessel inspect` show it. Whatever runs the checks (issue 14's monitor) fills it in.
 */
const now = Date.parse('2026-11-28T15:45:00.000Z');

const state = (name: string, patch: Partial<ContainerState>): ContainerState =>
  stateFixture(name, { mode: 'detached', supervisorPid: process.pid, pid: 4242, startedAt: '2026-11-28T15:42:00.000Z', ...patch });

const probe = (sec: number, exitCode: number, output = ''): HealthProbe => ({
  start: new Date(Date.parse('2026-11-28T15:42:00.000Z') + sec * 1000).toISOString(),
  end: new Date(Date.parse('2026-11-28T15:42:00.000Z') + sec * 1000 + 30).toISOString(),
  exitCode,
  output,
});

const healthy: HealthState = { status: 'healthy', failingStreak: 0, log: [probe(30, 0, 'ok\n')] };
const unhealthy: HealthState = {
  status: 'unhealthy',
  failingStreak: 3,
  log: [probe(30, 1, 'wget: server returned error: HTTP/1.0 500\n'), probe(60, 1, 'x\n'), probe(90, -1, 'Health check exceeded timeout (30s)')],
};
const starting: HealthState = { status: 'starting', failingStreak: 0, log: [] };

describe('vessel ps shows health the way docker does', () => {
  const report = mergePs(undefined, [
    state('api', { health: healthy }),
    state('db', { health: unhealthy }),
    state('new', { health: starting }),
    state('plain', {}),
    state('old', { status: 'exited', health: unhealthy }),
  ], [], now);
  const rows = Object.fromEntries(report.containers.map((r) => [r.name, r]));

  it('the --json rows carry docker\'s status, the failing streak and the last output', () => {
    expect(rows.api!.health).toEqual({ status: 'healthy', failingStreak: 0, lastOutput: 'ok' });
    expect(rows.db!.health).toEqual({ status: 'unhealthy', failingStreak: 3, lastOutput: 'Health check exceeded timeout (30s)' });
    expect(rows.new!.health).toEqual({ status: 'starting', failingStreak: 0 });
    expect(rows.plain!.health).toBeUndefined();
    // a stopped container's last health is not its state
    expect(rows.old!.health).toBeUndefined();
  });

  it('the table says `running (healthy)`, `running (unhealthy)`, `running (health: starting)`', () => {
    const lines = formatPs(report, now).split('\n');
    const line = (n: string) => lines.find((l) => l.startsWith(`${n} `))!;
    expect(line('api')).toMatch(/^api\s+running \(healthy\)\s+busybox:latest\s+-\s+4242\s/);
    expect(line('db')).toMatch(/^db\s+running \(unhealthy\)\s/);
    expect(line('new')).toMatch(/^new\s+running \(health: starting\)\s/);
    expect(line('plain')).toMatch(/^plain\s+running\s+busybox/);
    expect(line('old')).toMatch(/^old\s+exited\s+busybox/);
  });
});

describe('vessel inspect shows docker\'s State.Health', () => {
  it('status, failing streak and the results with their times, exit codes and output', () => {
    const v = inspectView(state('db', { health: unhealthy }), { memoryBytes: 1 });
    expect(v.health).toEqual({
      status: 'unhealthy',
      failingStreak: 3,
      log: [
        { start: '2026-11-28T15:42:30.000Z', end: '2026-11-28T15:42:30.030Z', exitCode: 1, output: 'wget: server returned error: HTTP/1.0 500\n' },
        { start: '2026-11-28T15:43:00.000Z', end: '2026-11-28T15:43:00.030Z', exitCode: 1, output: 'x\n' },
        { start: '2026-11-28T15:43:30.000Z', end: '2026-11-28T15:43:30.030Z', exitCode: -1, output: 'Health check exceeded timeout (30s)' },
      ],
    });
    expect(v.status).toBe('running');
    expect(v.stats).toEqual({ memoryBytes: 1 });
    expect(inspectView(state('x', { supervisorPid: 2 ** 22 + 1 })).status).toBe('dead');
  });
});

describe('nextHealth: docker\'s transitions (moby daemon/health.go handleProbeResult)', () => {
  const check = { retries: 3, startPeriodMs: 20_000 };
  const started = '2026-11-28T15:42:00.000Z';
  const run = (results: Array<[sec: number, code: number]>): HealthState | undefined =>
    results.reduce<HealthState | undefined>((h, [sec, code]) => nextHealth(h, probe(sec, code), check, started), undefined);

  it('starting until the first success, healthy after it', () => {
    expect(run([[5, 0]])?.status).toBe('healthy');
  });
  it('failures within the start period do not count; after it, `retries` in a row make it unhealthy', () => {
    expect(run([[5, 1], [10, 1], [15, 1]])).toMatchObject({ status: 'starting', failingStreak: 0 });
    expect(run([[5, 1], [25, 1], [30, 1]])).toMatchObject({ status: 'starting', failingStreak: 2 });
    expect(run([[5, 1], [25, 1], [30, 1], [35, 1]])).toMatchObject({ status: 'unhealthy', failingStreak: 3 });
  });
  it('a success clears the streak; a healthy container\'s failures count even early', () => {
    expect(run([[5, 0], [10, 1], [15, 1]])).toMatchObject({ status: 'healthy', failingStreak: 2 });
    expect(run([[5, 0], [10, 1], [15, 1], [16, 1]])).toMatchObject({ status: 'unhealthy', failingStreak: 3 });
    expect(run([[25, 1], [30, 1], [35, 1], [40, 0]])).toMatchObject({ status: 'healthy', failingStreak: 0 });
  });
  it('keeps the last five results and 4 KiB of each output', () => {
    const h = Array.from({ length: 8 }, (_, i) => i).reduce<HealthState | undefined>((s, i) => nextHealth(s, probe(30 + i, 0, 'x'.repeat(5000)), check, started), undefined)!;
    expect(h.log).toHaveLength(HEALTH_LOG_ENTRIES);
    expect(h.log[0]!.start).toBe(probe(33, 0).start);
    expect(h.log.every((l) => l.output.length === 4096)).toBe(true);
  });
});
