import { totalmem } from 'node:os';
import { formatTable } from '../util/index.js';
import { driverFor, type Stats } from '../runtime/index.js';
import { formatBytes } from '../image/index.js';
import { isLive, listStates } from './state.js';
import { mustState, refOf } from './control.js';
import type { ContainerState } from './types.js';

/**
 * `vessel stats` (docker stats): usage samples of running containers from their driver (cgroups
 * and /proc on Linux, rctl and netstat on FreeBSD), turned into docker's columns. Counters become
 * rates between two samples, so a row's CPU % needs the previous sample of the same run.
 */

export interface UsageSample {
  name: string;
  /** The run the sample belongs to: a restarted container's counters start over. */
  runId: string;
  /** When it was taken (ms since the epoch). */
  at: number;
  stats: Stats;
}

/**
 * One line of `vessel stats`: the sample's usage with docker's derived columns. `cpuPercent` is
 * per core (200 = two cores busy) and absent until two samples exist (FreeBSD: racct's own);
 * `memoryLimitBytes` is the container's limit, else the host's memory (docker shows the same).
 */
export type StatsRow = { name: string; memoryPercent?: number } & Pick<Stats,
  'cpuPercent' | 'memoryBytes' | 'memoryLimitBytes' | 'netRxBytes' | 'netTxBytes' | 'blockReadBytes' | 'blockWriteBytes' | 'blockReadBps' | 'blockWriteBps' | 'pids' | 'pidsLimit'>;

/** One usage sample of a running container; undefined when it is not running (or ended meanwhile). */
export async function sampleUsage(s: ContainerState, now: () => number = Date.now): Promise<UsageSample | undefined> {
  if (!isLive(s) || s.status !== 'running') return undefined;
  const stats = await (await driverFor()).stats(refOf(s)).catch(() => undefined);
  return stats === undefined ? undefined : { name: s.name, runId: s.runId, at: now(), stats };
}

/** The containers `vessel stats NAME…` shows: the named ones (unknown names are errors), else every running one. */
export async function statsTargets(names: readonly string[]): Promise<ContainerState[]> {
  if (names.length > 0) return Promise.all(names.map((n) => mustState(n)));
  return (await listStates()).filter((s) => isLive(s) && s.status === 'running');
}

const round = (n: number, places: number): number => Math.round(n * 10 ** places) / 10 ** places;

/** docker's CPU % is the CPU time used over the wall time between two samples, per core. */
export function statsRow(name: string, cur: UsageSample | undefined, prev: UsageSample | undefined, hostMemoryBytes = totalmem()): StatsRow {
  const row: StatsRow = { name };
  if (cur === undefined) return row;
  const s = cur.stats;
  if (s.cpuPercent !== undefined) row.cpuPercent = round(s.cpuPercent, 2);
  else if (prev !== undefined && prev.runId === cur.runId && s.cpuNanos !== undefined && prev.stats.cpuNanos !== undefined && cur.at > prev.at) {
    row.cpuPercent = round(Math.max(0, s.cpuNanos - prev.stats.cpuNanos) / ((cur.at - prev.at) * 1e6) * 100, 2);
  }
  if (s.memoryBytes !== undefined) {
    row.memoryBytes = s.memoryBytes;
    row.memoryLimitBytes = s.memoryLimitBytes ?? hostMemoryBytes;
    if (row.memoryLimitBytes > 0) row.memoryPercent = round((s.memoryBytes / row.memoryLimitBytes) * 100, 2);
  }
  for (const k of ['netRxBytes', 'netTxBytes', 'blockReadBytes', 'blockWriteBytes', 'blockReadBps', 'blockWriteBps', 'pids', 'pidsLimit'] as const) {
    if (s[k] !== undefined) row[k] = s[k];
  }
  return row;
}

const pair = (a: number | undefined, b: number | undefined, unit = ''): string =>
  a === undefined && b === undefined ? '--' : `${a === undefined ? '--' : formatBytes(a) + unit} / ${b === undefined ? '--' : formatBytes(b) + unit}`;

/** docker stats' table: NAME, CPU %, MEM USAGE / LIMIT, MEM %, NET I/O, BLOCK I/O, PIDS. */
export function formatStats(rows: readonly StatsRow[]): string {
  const lines: string[][] = [['NAME', 'CPU %', 'MEM USAGE / LIMIT', 'MEM %', 'NET I/O', 'BLOCK I/O', 'PIDS']];
  for (const r of rows) {
    const block = r.blockReadBytes !== undefined || r.blockWriteBytes !== undefined
      ? pair(r.blockReadBytes, r.blockWriteBytes)
      : pair(r.blockReadBps, r.blockWriteBps, '/s');
    lines.push([
      r.name,
      r.cpuPercent === undefined ? '--' : `${r.cpuPercent.toFixed(2)}%`,
      r.memoryBytes === undefined ? '--' : pair(r.memoryBytes, r.memoryLimitBytes),
      r.memoryPercent === undefined ? '--' : `${r.memoryPercent.toFixed(2)}%`,
      pair(r.netRxBytes, r.netTxBytes),
      block,
      r.pids === undefined ? '--' : String(r.pids),
    ]);
  }
  return formatTable(lines);
}
