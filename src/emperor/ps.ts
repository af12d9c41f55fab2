import type { ContainerState, ContainerStatus, HealthStatus, SupervisorMode } from '../supervise/index.js';
import { effectiveStatus, healthLabel } from '../supervise/index.js';
import type { EmperorStats, VassalStats } from './stats.js';
import { formatTable } from '../util/index.js';

/**
 * `vessel ps`: the Emperor's view of each vassal merged with vessel's own state file of each
 * container. uWSGI's counters reset on every respawn, so restarts and exits come from the state
 * file; liveness, loyalty and throttling only the Emperor knows. Pure: tested on captured stats.
 */

export interface VassalView {
  /** The vassal's file in the Emperor's directory (NAME.vessel, or an ordinary NAME.ini). */
  id: string;
  pid: number;
  loyal: boolean;
  ready: boolean;
  accepting: boolean;
  /** Being stopped by the Emperor (cursed). */
  stopping: boolean;
  /** Seconds since the last heartbeat; undefined before the first. */
  heartbeatAgeSec?: number;
  bornAt: string;
}

export interface PsRow {
  name: string;
  /** `vassal`: a uWSGI vassal that is no container (ordinary .ini). */
  kind: 'container' | 'vassal';
  /** `dead`: the state says running but its supervisor is gone (SIGKILL, reboot). */
  status?: ContainerStatus | 'dead';
  mode?: SupervisorMode;
  image?: string;
  /** Host pid of the container's init. */
  pid?: number;
  startedAt?: string;
  restarts?: number;
  lastExit?: string;
  /** Why the spec was rejected or the container could not start. */
  error?: string;
  /** Health of a running container with a check: docker's status, the failures in a row, the last check's output. */
  health?: { status: HealthStatus; failingStreak: number; lastOutput?: string };
  /** Why it has not started yet: an unmet dependency (`waiting for db (healthy; now starting)`). */
  waiting?: string;
  /** A zero-downtime reload under way: what its next container is doing. */
  reloading?: string;
  /** Published ports with the host ports chosen (net's lease): `8080->80/tcp, [::1]:53->53/udp`. */
  ports?: string;
  vassal?: VassalView;
  /** Respawn delay the Emperor currently imposes (ms), from its blacklist. */
  throttleMs?: number;
  /** Unloyal deaths counted by the Emperor's blacklist. */
  throttleAttempts?: number;
}

export interface PsReport {
  emperor?: { pid: number; version: string; dirs: string[] };
  /** Why the Emperor's stats could not be read (not running …). */
  emperorError?: string;
  containers: PsRow[];
}

function nameOfVassal(id: string): { name: string; kind: PsRow['kind'] } {
  const base = id.split('/').pop() ?? id;
  if (base.endsWith('.vessel')) return { name: base.slice(0, -'.vessel'.length), kind: 'container' };
  return { name: base.replace(/\.(ini|xml|ya?ml|js|json)$/, ''), kind: 'vassal' };
}

function viewOf(v: VassalStats, nowSec: number): VassalView {
  return {
    id: v.id,
    pid: v.pid,
    loyal: v.loyal > 0,
    ready: v.ready > 0,
    accepting: v.accepting > 0,
    stopping: v.cursed > 0,
    ...(v.last_heartbeat > 0 ? { heartbeatAgeSec: Math.max(0, nowSec - v.last_heartbeat) } : {}),
    bornAt: new Date(v.born * 1000).toISOString(),
  };
}

/** `errors`: rejected specs recorded by the watcher or the vassal (supervise recordError). */
export function mergePs(
  stats: EmperorStats | undefined,
  states: readonly ContainerState[],
  errors: ReadonlyArray<{ name: string; error: string }>,
  nowMs: number,
  emperorError?: string,
): PsReport {
  const nowSec = Math.floor(nowMs / 1000);
  const rows = new Map<string, PsRow>();
  for (const st of states) {
    const status = effectiveStatus(st);
    rows.set(st.name, {
      name: st.name,
      kind: 'container',
      status,
      mode: st.mode,
      image: st.spec.image,
      ...(st.pid !== undefined && status === 'running' ? { pid: st.pid } : {}),
      ...(st.startedAt !== undefined ? { startedAt: st.startedAt } : {}),
      restarts: st.restarts,
      ...(st.lastExit !== undefined ? { lastExit: st.lastExit.reason } : {}),
      ...(st.error !== undefined ? { error: st.error } : {}),
      // A stopped container's last health is history, not its state (inspect still has it).
      ...(st.health !== undefined && status === 'running' ? { health: healthRow(st.health) } : {}),
      ...(st.waiting !== undefined && status !== 'running' ? { waiting: st.waiting } : {}),
      ...(st.reloading !== undefined && status === 'running' ? { reloading: st.reloading.phase } : {}),
    });
  }
  for (const { name, error } of errors) {
    const row = rows.get(name) ?? { name, kind: 'container' as const };
    row.error = error;
    rows.set(name, row);
  }
  for (const v of stats?.vassals ?? []) {
    const { name, kind } = nameOfVassal(v.id);
    const row = rows.get(name) ?? { name, kind };
    row.vassal = viewOf(v, nowSec);
    rows.set(name, row);
  }
  for (const b of stats?.blacklist ?? []) {
    const { name, kind } = nameOfVassal(b.id);
    const row = rows.get(name) ?? { name, kind };
    row.throttleMs = b.throttle_level;
    row.throttleAttempts = b.attempt;
    rows.set(name, row);
  }
  return {
    ...(stats ? { emperor: { pid: stats.pid, version: stats.version, dirs: stats.emperor } } : {}),
    ...(emperorError !== undefined ? { emperorError } : {}),
    containers: [...rows.values()].sort((a, b) => a.name.localeCompare(b.name)),
  };
}

function healthRow(h: NonNullable<ContainerState['health']>): NonNullable<PsRow['health']> {
  const last = h.log.at(-1);
  return { status: h.status, failingStreak: h.failingStreak, ...(last !== undefined ? { lastOutput: last.output.trim().split('\n').at(-1) ?? '' } : {}) };
}

function ago(iso: string | undefined, nowMs: number): string {
  if (iso === undefined) return '-';
  const s = Math.max(0, Math.round((nowMs - Date.parse(iso)) / 1000));
  if (s < 120) return `${s}s ago`;
  if (s < 7200) return `${Math.round(s / 60)}m ago`;
  if (s < 172800) return `${Math.round(s / 3600)}h ago`;
  return `${Math.round(s / 86400)}d ago`;
}

/** The human table of `vessel ps`. */
export function formatPs(report: PsReport, nowMs: number): string {
  const head = ['NAME', 'STATUS', 'IMAGE', 'PORTS', 'PID', 'VASSAL', 'LOYAL', 'HEARTBEAT', 'THROTTLE', 'STARTED', 'RESTARTS', 'LAST EXIT', 'ERROR'];
  const lines: string[][] = [head];
  for (const r of report.containers) {
    const v = r.vassal;
    let status: string = v?.stopping ? 'stopping' : (r.status ?? (v ? (v.ready ? 'running' : 'starting') : '-'));
    // Dead, no vassal, on the Emperor's blacklist: it is waiting out its respawn delay.
    if (!v && r.throttleMs !== undefined && r.status !== 'running') status = 'back-off';
    // Held back by depends_on: the reason is the status ("waiting for db (healthy; now starting)").
    if (r.waiting !== undefined && r.status !== 'running' && !v?.stopping) status = r.waiting;
    if (r.reloading !== undefined) status += ` (reloading: ${r.reloading})`;
    // docker's `Up 3 minutes (healthy)`
    if (r.health !== undefined) status += ` (${healthLabel(r.health)})`;
    lines.push([
      r.name,
      r.kind === 'vassal' ? `${status} (uwsgi)` : status,
      r.image ?? '-',
      r.ports ?? '-',
      r.pid !== undefined ? String(r.pid) : '-',
      v ? String(v.pid) : '-',
      v ? (v.loyal ? 'yes' : 'no') : '-',
      v?.heartbeatAgeSec !== undefined ? `${v.heartbeatAgeSec}s` : '-',
      r.throttleMs !== undefined ? `${(r.throttleMs / 1000).toFixed(1)}s×${r.throttleAttempts ?? 0}` : '-',
      ago(r.startedAt, nowMs),
      r.restarts !== undefined ? String(r.restarts) : '-',
      r.lastExit ?? '-',
      r.error ?? '',
    ]);
  }
  const out = formatTable(lines);
  return report.emperorError === undefined ? out : `${out}(emperor: ${report.emperorError})\n`;
}
