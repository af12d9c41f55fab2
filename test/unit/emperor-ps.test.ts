import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { formatPs, mergePs } from '../../src/emperor/ps.js';
import { parseStats } from '../../src/emperor/stats.js';
import { defaultSpec } from '../../src/spec/index.js';
import type { ContainerState } from '../../src/supervise/types.js';

// Stats captured from the real uWSGI 2.0.21 Emperor under `vessel up`: web.vessel (loyal),
// plain.ini (an ordinary uWSGI vassal) and crashy.vessel on the blacklist.
const captured = readFileSync(join(__dirname, '..', 'fixtures', 'emperor', 'stats.json'), 'utf8');
const stats = parseStats(captured);
const now = 1795880503_000;

function state(name: string, patch: Partial<ContainerState>): ContainerState {
  return {
    name,
    spec: { ...defaultSpec(name, 'busybox:latest', 'file') },
    status: 'running',
    mode: 'vassal',
    supervisorPid: process.pid,
    runId: 'r1',
    createdAt: '2026-11-28T15:41:00.000Z',
    restarts: 0,
    resources: [],
    autoRemove: false,
    ...patch,
  };
}

describe('vessel ps: Emperor stats merged with container state', () => {
  it('parses the captured stats document', () => {
    expect(stats.version).toBe('2.0.21-debian');
    expect(stats.vassals.map((v) => v.id)).toEqual(['web.vessel', 'plain.ini']);
    expect(stats.blacklist[0]).toMatchObject({ id: 'crashy.vessel', throttle_level: 3001, attempt: 3 });
  });

  it('rejects what is not an Emperor stats document', () => {
    expect(() => parseStats('{"workers":[]}', 'x.sock')).toThrow(/x.sock: no "vassals" list/);
    expect(() => parseStats('nope', 'x.sock')).toThrow(/x.sock: not JSON/);
  });

  it('merges vassals, blacklist, states and recorded errors by container name', () => {
    const states = [
      state('web', { pid: 4242, startedAt: '2026-11-28T15:41:34.000Z', restarts: 2, lastExit: { code: 143, signal: 'SIGTERM', oomKilled: false, reason: 'killed by SIGTERM', at: '2026-11-28T15:41:33.000Z' } }),
      state('crashy', { status: 'exited', pid: 99, restarts: 3, lastExit: { code: 1, oomKilled: false, reason: 'exited 1', at: '2026-11-28T15:41:42.000Z' } }),
    ];
    const report = mergePs(stats, states, [{ name: 'broken', error: 'broken.ini: [container] image: missing' }], now);
    expect(report.emperor).toEqual({ pid: stats.pid, version: '2.0.21-debian', dirs: stats.emperor });
    const byName = Object.fromEntries(report.containers.map((r) => [r.name, r]));
    expect(Object.keys(byName)).toEqual(['broken', 'crashy', 'plain', 'web']);
    expect(byName.web).toMatchObject({
      kind: 'container',
      status: 'running',
      image: 'busybox:latest',
      pid: 4242,
      restarts: 2,
      lastExit: 'killed by SIGTERM',
      vassal: { id: 'web.vessel', loyal: true, ready: true, accepting: true, stopping: false, heartbeatAgeSec: 9 },
    });
    // A dead container shows no pid; the blacklist gives its respawn delay.
    expect(byName.crashy).toMatchObject({ status: 'exited', restarts: 3, throttleMs: 3001, throttleAttempts: 3 });
    expect(byName.crashy!.pid).toBeUndefined();
    expect(byName.plain).toMatchObject({ kind: 'vassal', vassal: { id: 'plain.ini', loyal: false } });
    expect(byName.plain!.vassal!.heartbeatAgeSec).toBeUndefined();
    expect(byName.broken).toEqual({ name: 'broken', kind: 'container', error: 'broken.ini: [container] image: missing' });
  });

  it('a running state whose supervisor is gone shows as dead', () => {
    const report = mergePs(undefined, [state('web', { pid: 4242, supervisorPid: 2 ** 22 + 1 })], [], now);
    expect(report.containers[0]).toMatchObject({ name: 'web', status: 'dead' });
    expect(report.containers[0]!.pid).toBeUndefined();
  });

  it('without an Emperor, lists states and says why', () => {
    const report = mergePs(undefined, [state('web', { status: 'exited' })], [], now, 'emperor stats /run/x: ENOENT');
    expect(report.emperor).toBeUndefined();
    expect(report.containers).toHaveLength(1);
    expect(formatPs(report, now)).toMatch(/\(emperor: emperor stats \/run\/x: ENOENT\)\n$/);
  });

  it('a container held back by depends_on shows the gate\'s reason as its status', () => {
    const waiting = 'waiting for db (healthy; now starting)';
    const report = mergePs(undefined, [state('web', { status: 'created', waiting }), state('db', { waiting: 'stale' })], [], now);
    const byName = Object.fromEntries(report.containers.map((c) => [c.name, c]));
    expect(byName.web).toMatchObject({ status: 'created', waiting });
    // a running container is past its gate: a leftover reason is not shown
    expect(byName.db!.waiting).toBeUndefined();
    expect(formatPs(report, now)).toMatch(/\nweb\s+waiting for db \(healthy; now starting\)\s+busybox:latest/);
  });

  it('prints one aligned line per container', () => {
    const report = mergePs(stats, [state('crashy', { status: 'exited', restarts: 3 })], [], now);
    const lines = formatPs(report, now).trimEnd().split('\n');
    expect(lines[0]).toMatch(/^NAME\s+STATUS\s+IMAGE\s+PORTS\s+PID\s+VASSAL\s+LOYAL\s+HEARTBEAT\s+THROTTLE\s+STARTED\s+RESTARTS\s+LAST EXIT\s+ERROR$/);
    expect(lines[1]).toMatch(/^crashy\s+back-off\s+busybox:latest\s+-\s+-\s+-\s+-\s+-\s+3\.0s×3/);
    expect(lines[2]).toMatch(/^plain\s+running \(uwsgi\)/);
    expect(lines[3]).toMatch(/^web\s+running\s+-\s+-\s+-\s+\d+\s+yes\s+9s/);
  });
});
