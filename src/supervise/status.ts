import { basename, dirname, join } from 'node:path';
import { exitStatusOf, type MonitorStatus, type Resource } from '../runtime/index.js';
import type { ContainerState, ContainerStatus } from './types.js';

/**
 * A container's state as vessel shows it: the state file TypeScript wrote when it prepared the
 * run (spec, resources recorded before they were created), merged with the native monitor's
 * status record (what the container is doing now: its run, init, exit, restarts, health). Pure.
 */

const STATUS_OF: Record<MonitorStatus['phase'], ContainerStatus> = {
  preparing: 'created',
  waiting: 'created',
  starting: 'created',
  running: 'running',
  stopping: 'stopping',
  backoff: 'restarting',
  exited: 'exited',
  idle: 'exited',
  failed: 'failed',
};

/** The recorded cgroup directories of the first run, renamed to the run now under way. */
function currentResources(recorded: Resource[], m: MonitorStatus): Resource[] {
  const out: Resource[] = recorded
    .filter((r) => r.kind !== 'process')
    .map((r) => (r.kind === 'cgroup' && m.leaf && basename(r.id) !== m.leaf ? { ...r, id: join(dirname(r.id), m.leaf) } : r));
  out.push({ kind: 'process', id: String(m.monitorPid), detail: { role: 'monitor' } });
  if (m.initPid > 0 && (m.phase === 'running' || m.phase === 'starting' || m.phase === 'stopping')) {
    out.push({ kind: 'process', id: String(m.initPid), detail: { role: 'init' } });
  }
  return out;
}

export function mergeStatus(s: ContainerState, m: MonitorStatus | undefined): ContainerState {
  // A record of an earlier start of this name says nothing about this one.
  if (!m || m.runId !== s.runId) return s;
  // Released by TypeScript already: the state file has the last word.
  // (a record still saying "running" is a monitor's that was killed: gc released what it left)
  if ((s.status === 'exited' || s.status === 'failed') && s.resources.length === 0) {
    return m.phase === 'idle' ? { ...s, supervisorPid: m.monitorPid } : s;
  }
  const out: ContainerState = { ...s, status: STATUS_OF[m.phase], supervisorPid: m.monitorPid, resources: currentResources(s.resources, m) };
  if (m.initPid > 0 && out.status === 'running') out.pid = m.initPid;
  else delete out.pid;
  if (m.startedAt) out.startedAt = m.startedAt;
  out.restarts = s.restarts + m.restarts;
  if (s.mode === 'detached') out.restartCount = { failures: m.failures, quickDeaths: m.quickDeaths };
  // the last finished run (a restarted container's previous one while the next runs)
  if (m.exitedAt) {
    out.lastExit = { ...exitStatusOf(m, s.spec.limits.memoryBytes), at: m.exitedAt };
    if (out.status === 'exited' || out.status === 'failed' || out.status === 'restarting') out.finishedAt = m.exitedAt;
  }
  if (m.phase === 'failed' && (m.note || m.reason)) out.error = m.note || m.reason;
  if (m.phase === 'waiting' && m.note) out.waiting = m.note;
  if (m.health) out.health = m.health;
  if (m.next) out.reloading = { phase: m.next.phase, ...(m.next.health ? { health: m.next.health } : {}) };
  return out;
}
