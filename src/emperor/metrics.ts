import type { ContainerState, ContainerStatus, HealthStatus, Stats } from '../supervise/index.js';
import type { EmperorStats } from './stats.js';

/**
 * What `vessel up --metrics` serves: the Prometheus text exposition format, version 0.0.4
 * (prometheus/docs exposition_formats.md): per metric one `# HELP` and one `# TYPE` line, then
 * its samples `name{label="value",…} value`; in HELP a backslash and a newline are escaped, in
 * label values also the double quote. Pure: the same states, usage and Emperor stats give the
 * same bytes (tested against a golden file and promtool).
 */

/** One container as the collector saw it: its state file, the status true now, its usage if it runs. */
export interface ContainerSnapshot {
  state: ContainerState;
  status: ContainerStatus | 'dead';
  stats?: Stats;
}

export interface MetricsInput {
  containers: readonly ContainerSnapshot[];
  /** The Emperor's stats document; undefined when it could not be read (not running yet, gone). */
  emperor?: EmperorStats;
}

type Kind = 'gauge' | 'counter';
type Labels = Record<string, string>;

interface Family {
  name: string;
  kind: Kind;
  help: string;
  samples: Array<{ labels: Labels; value: number }>;
}

const STATES: ReadonlyArray<ContainerStatus | 'dead'> = ['created', 'running', 'stopping', 'exited', 'failed', 'dead'];
const HEALTH: readonly HealthStatus[] = ['starting', 'healthy', 'unhealthy'];

export function escapeHelp(text: string): string {
  return text.replace(/\\/g, '\\\\').replace(/\n/g, '\\n');
}

export function escapeLabelValue(text: string): string {
  return text.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
}

/** A sample value as Go's strconv writes it for Prometheus: integers plainly, NaN and ±Inf by name. */
export function formatValue(v: number): string {
  if (Number.isNaN(v)) return 'NaN';
  if (v === Infinity) return '+Inf';
  if (v === -Infinity) return '-Inf';
  return String(v);
}

function render(families: readonly Family[]): string {
  const out: string[] = [];
  for (const f of families) {
    if (f.samples.length === 0) continue;
    out.push(`# HELP ${f.name} ${escapeHelp(f.help)}`, `# TYPE ${f.name} ${f.kind}`);
    for (const s of f.samples) {
      const labels = Object.entries(s.labels).map(([k, v]) => `${k}="${escapeLabelValue(v)}"`).join(',');
      out.push(`${f.name}${labels ? `{${labels}}` : ''} ${formatValue(s.value)}`);
    }
  }
  return out.length === 0 ? '' : out.join('\n') + '\n';
}

/** The families, each filled by the loops below in a fixed order (containers by name). */
function families() {
  const f = (name: string, kind: Kind, help: string): Family => ({ name, kind, help, samples: [] });
  return {
    info: f('vessel_container_info', 'gauge', 'A container known to vessel: its image and who supervises it (always 1).'),
    state: f('vessel_container_state', 'gauge', 'The container\'s status: 1 for the one it is in, 0 for the others ("dead": its supervisor is gone).'),
    started: f('vessel_container_start_time_seconds', 'gauge', 'When the current or last run started, seconds since the epoch.'),
    restarts: f('vessel_container_restarts_total', 'counter', 'Times the container was started again after it died (restart policy or Emperor).'),
    exitCode: f('vessel_container_last_exit_code', 'gauge', 'Exit code of the last run (128+N: killed by signal N).'),
    health: f('vessel_container_health_status', 'gauge', 'Health of a running container with a check: 1 for its status, 0 for the others.'),
    streak: f('vessel_container_health_failing_streak', 'gauge', 'Health checks failed in a row.'),
    cpu: f('vessel_container_cpu_seconds_total', 'counter', 'CPU time used by every process of the current run.'),
    memory: f('vessel_container_memory_bytes', 'gauge', 'Memory in use, without reclaimable page cache (what docker stats shows).'),
    memoryLimit: f('vessel_container_memory_limit_bytes', 'gauge', 'The memory limit of the container.'),
    pids: f('vessel_container_pids', 'gauge', 'Processes in the container.'),
    rx: f('vessel_container_network_receive_bytes_total', 'counter', 'Bytes received on the container\'s network interfaces (loopback not counted).'),
    tx: f('vessel_container_network_transmit_bytes_total', 'counter', 'Bytes sent on the container\'s network interfaces (loopback not counted).'),
    blkRead: f('vessel_container_block_read_bytes_total', 'counter', 'Bytes read from block devices.'),
    blkWrite: f('vessel_container_block_write_bytes_total', 'counter', 'Bytes written to block devices.'),
    up: f('vessel_emperor_up', 'gauge', 'Whether the Emperor answered on its stats socket.'),
    emperorInfo: f('vessel_emperor_info', 'gauge', 'The uWSGI Emperor: its version and pid (always 1).'),
    vassals: f('vessel_emperor_vassals', 'gauge', 'Vassals the Emperor runs.'),
    loyal: f('vessel_vassal_loyal', 'gauge', 'Whether the vassal is loyal (it ran long enough; its deaths are not throttled).'),
    ready: f('vessel_vassal_ready', 'gauge', 'Whether the vassal told the Emperor it is ready.'),
    accepting: f('vessel_vassal_accepting', 'gauge', 'Whether the vassal told the Emperor it accepts requests.'),
    respawns: f('vessel_vassal_respawns_total', 'counter', 'Times the Emperor respawned the vassal.'),
    heartbeat: f('vessel_vassal_last_heartbeat_seconds', 'gauge', 'Last heartbeat of the vassal, seconds since the epoch.'),
    throttle: f('vessel_vassal_throttle_seconds', 'gauge', 'Respawn delay the Emperor imposes on a blacklisted vassal.'),
    attempts: f('vessel_vassal_blacklist_attempts', 'gauge', 'Unloyal deaths the Emperor counted for a blacklisted vassal.'),
  };
}

export function renderMetrics(input: MetricsInput): string {
  const m = families();
  const containers = [...input.containers].sort((a, b) => a.state.name.localeCompare(b.state.name));
  for (const c of containers) {
    const s = c.state;
    const name = { name: s.name };
    m.info.samples.push({ labels: { ...name, image: s.spec.image, mode: s.mode }, value: 1 });
    for (const st of STATES) m.state.samples.push({ labels: { ...name, state: st }, value: st === c.status ? 1 : 0 });
    if (s.startedAt !== undefined) m.started.samples.push({ labels: name, value: Date.parse(s.startedAt) / 1000 });
    m.restarts.samples.push({ labels: name, value: s.restarts });
    if (s.lastExit !== undefined) m.exitCode.samples.push({ labels: name, value: s.lastExit.code });
    // a stopped container's last health is history, as in `vessel ps`
    if (s.health !== undefined && c.status === 'running') {
      for (const h of HEALTH) m.health.samples.push({ labels: { ...name, status: h }, value: h === s.health.status ? 1 : 0 });
      m.streak.samples.push({ labels: name, value: s.health.failingStreak });
    }
    const u = c.stats;
    if (u === undefined) continue;
    const put = (fam: Family, v: number | undefined, scale = 1): void => {
      if (v !== undefined) fam.samples.push({ labels: name, value: v * scale });
    };
    put(m.cpu, u.cpuNanos, 1e-9);
    put(m.memory, u.memoryBytes);
    put(m.memoryLimit, u.memoryLimitBytes);
    put(m.pids, u.pids);
    put(m.rx, u.netRxBytes);
    put(m.tx, u.netTxBytes);
    put(m.blkRead, u.blockReadBytes);
    put(m.blkWrite, u.blockWriteBytes);
  }

  const e = input.emperor;
  m.up.samples.push({ labels: {}, value: e === undefined ? 0 : 1 });
  if (e !== undefined) {
    m.emperorInfo.samples.push({ labels: { version: e.version, pid: String(e.pid) }, value: 1 });
    m.vassals.samples.push({ labels: {}, value: e.vassals.length });
    for (const v of [...e.vassals].sort((a, b) => a.id.localeCompare(b.id))) {
      const vassal = { vassal: v.id };
      m.loyal.samples.push({ labels: vassal, value: v.loyal > 0 ? 1 : 0 });
      m.ready.samples.push({ labels: vassal, value: v.ready > 0 ? 1 : 0 });
      m.accepting.samples.push({ labels: vassal, value: v.accepting > 0 ? 1 : 0 });
      m.respawns.samples.push({ labels: vassal, value: v.respawns });
      if (v.last_heartbeat > 0) m.heartbeat.samples.push({ labels: vassal, value: v.last_heartbeat });
    }
    for (const b of [...e.blacklist].sort((x, y) => x.id.localeCompare(y.id))) {
      // uWSGI keeps the throttle in milliseconds (emperor-throttle ms per unloyal death, docs/emperor.md)
      m.throttle.samples.push({ labels: { vassal: b.id }, value: b.throttle_level / 1000 });
      m.attempts.samples.push({ labels: { vassal: b.id }, value: b.attempt });
    }
  }
  return render(Object.values(m));
}
