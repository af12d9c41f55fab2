import { readFileSync } from 'node:fs';
import { signalName } from './signals.js';
import type { ExitStatus } from './types.js';
import type { PlanRecord } from './plan-records.js';

/**
 * The native monitor's status record (native/common/status.c): `key value` lines, written whole
 * through rename() at every change of the container's phase. Parsed here, once, for everyone who
 * reads a container's state (ps, stop, exec, gc, the warm service).
 */
export type MonitorPhase = 'preparing' | 'waiting' | 'starting' | 'running' | 'stopping' | 'exited' | 'backoff' | 'idle' | 'failed';

export interface HealthResult {
  start: string;
  end: string;
  exitCode: number;
  output: string;
}

export interface MonitorStatus {
  /** The run id of the plan: a record from an earlier start of the same name is not this one's. */
  runId: string;
  monitorPid: number;
  phase: MonitorPhase;
  run: number;
  initPid: number;
  /** This run's cgroup leaf directory name (NAME.RUNID, NAME.RUNIDrN after restarts). */
  leaf: string;
  startedAt?: string;
  exitedAt?: string;
  code: number;
  mainCode: number;
  oomKills: number;
  stopped: boolean;
  restarts: number;
  failures: number;
  quickDeaths: number;
  /** The last exit's own words (setup error, command not found …). */
  reason: string;
  /** What the container waits for, or why its monitor idles or failed. */
  note: string;
  health?: { status: 'starting' | 'healthy' | 'unhealthy'; failingStreak: number; log: HealthResult[] };
  /** The run's relay of published ports the kernel cannot answer (Linux with br_netfilter: [::1]). */
  relayPid?: number;
  /** A zero-downtime reload under way: the next container beside this one. */
  next?: { phase: string; runId: string; initPid: number; leaf: string; health?: string };
}

const PHASES = new Set<MonitorPhase>(['preparing', 'waiting', 'starting', 'running', 'stopping', 'exited', 'backoff', 'idle', 'failed']);
const iso = (ms: number): string | undefined => (ms > 0 ? new Date(ms).toISOString() : undefined);

export function parseMonitorStatus(text: string): MonitorStatus | undefined {
  const kv = new Map<string, string>();
  const checks: HealthResult[] = [];
  for (const line of text.split('\n')) {
    const sp = line.indexOf(' ');
    const key = sp < 0 ? line : line.slice(0, sp);
    const value = sp < 0 ? '' : line.slice(sp + 1);
    if (key === 'check') {
      const m = /^(\d+) (\d+) (-?\d+) ?(.*)$/.exec(value);
      if (m) checks.push({ start: iso(Number(m[1])) ?? '', end: iso(Number(m[2])) ?? '', exitCode: Number(m[3]), output: m[4] ?? '' });
    } else if (key) kv.set(key, value);
  }
  const phase = kv.get('phase') as MonitorPhase | undefined;
  if (kv.get('version') !== '1' || !phase || !PHASES.has(phase)) return undefined;
  const num = (k: string): number => Number(kv.get(k) ?? 0) || 0;
  const st: MonitorStatus = {
    runId: kv.get('runid') ?? '',
    monitorPid: num('monitor'),
    phase,
    run: num('run'),
    initPid: num('init'),
    leaf: kv.get('leaf') ?? '',
    code: num('code'),
    mainCode: kv.has('main') ? Number(kv.get('main')) : -1,
    oomKills: num('oom'),
    stopped: kv.get('stopped') === '1',
    restarts: num('restarts'),
    failures: num('failures'),
    quickDeaths: num('quick'),
    reason: kv.get('reason') ?? '',
    note: kv.get('note') ?? '',
  };
  const started = iso(num('started'));
  const exited = iso(num('exited'));
  if (started) st.startedAt = started;
  if (exited) st.exitedAt = exited;
  if (num('relay') > 0) st.relayPid = num('relay');
  const next = /^(\S+) (\S+) (\d+) (\S+) (\S+)$/.exec(kv.get('next') ?? '');
  if (next) {
    st.next = { phase: next[1]!, runId: next[2]!, initPid: Number(next[3]), leaf: next[4] === '-' ? '' : next[4]!, ...(next[5] !== '-' ? { health: next[5]! } : {}) };
  }
  const health = kv.get('health');
  if (health === 'starting' || health === 'healthy' || health === 'unhealthy') st.health = { status: health, failingStreak: num('streak'), log: checks };
  return st;
}

export function readMonitorStatus(path: string): MonitorStatus | undefined {
  try {
    return parseMonitorStatus(readFileSync(path, 'utf8'));
  } catch {
    return undefined;
  }
}

/** A memory limit as people write it: binary units (vessel's spec parses 64M as 64 MiB). */
function formatLimit(n: number): string {
  return n % (1024 * 1024) === 0 ? `${n / 1024 / 1024} MiB` : `${n} bytes`;
}

/**
 * The exit of a run as vessel reports it: the command's code (128+signal when killed), "not
 * found"/"cannot run"/setup errors with the init's own words, and an OOM kill named with its limit.
 */
export function exitStatusOf(st: Pick<MonitorStatus, 'code' | 'oomKills' | 'reason'>, memoryLimit?: number): ExitStatus {
  const c = st.code;
  const oom = st.oomKills > 0;
  if (c >= 125 && c <= 127 && st.reason) return { code: c, oomKilled: false, reason: st.reason };
  if (oom && c === 137) {
    return { code: 137, signal: 'SIGKILL', oomKilled: true, reason: `out of memory${memoryLimit ? ` (limit ${formatLimit(memoryLimit)})` : ''}` };
  }
  if (c > 128 && c < 128 + 65) {
    const name = signalName(c - 128);
    return { code: c, signal: name, oomKilled: oom, reason: `killed by ${name}` };
  }
  return { code: c, oomKilled: oom, reason: `exited ${c}` };
}

/**
 * The supervision records every monitor needs (name, run id, status file, stop signal): a start
 * from the driver alone is a foreground run; supervise/plan.ts adds the rest (restart table,
 * Emperor timings, release) before these.
 */
export function baseSupervision(name: string, runId: string, statusPath: string, stopSignal: number): PlanRecord[] {
  return [['name', name], ['run-id', runId], ['status', statusPath], ['stop-signal', String(stopSignal)]];
}
