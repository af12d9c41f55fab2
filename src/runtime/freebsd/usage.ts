import { run } from '../../util/index.js';
import type { Stats } from '../types.js';

/**
 * What a jail uses, for `vessel stats` and the metrics: racct's counters (`rctl -u jail:NAME`),
 * the limits vessel set (`rctl jail:NAME`), and the traffic of its epair (`netstat -I`). Every
 * parser is pure and tested on the tools' output as their sources print it.
 */

export const usageArgv = (jail: string): string[] => ['rctl', '-u', `jail:${jail}`];
export const rulesArgv = (jail: string): string[] => ['rctl', `jail:${jail}`];
/** netstat(1) -I IF -b -n: the interface's counters with bytes; libxo for a stable shape. */
export const interfaceArgv = (ifname: string): string[] => ['netstat', '-I', ifname, '-b', '-n', '--libxo', 'json'];

/**
 * `rctl -u` prints one `resource=amount` per line (rctl.c show_usage splits the kernel's
 * comma-separated racct at `,`; without -h the amounts are plain integers). The resource names
 * are rctl(8)'s RESOURCES (kern_rctl.c resourcenames): cputime (CPU time, in seconds),
 * memoryuse (resident set size, in bytes), maxproc (number of processes), pcpu (%CPU, in
 * percents of a single CPU core), readbps / writebps (filesystem reads / writes, in bytes per
 * second), among others vessel does not show.
 */
export function parseRctlUsage(text: string): Stats {
  const u = new Map<string, number>();
  for (const line of text.split('\n')) {
    const m = /^([a-z]+)=(-?\d+)$/.exec(line.trim());
    if (m) u.set(m[1]!, Number(m[2]));
  }
  const s: Stats = {};
  const map: Array<[string, keyof Stats, number]> = [
    ['memoryuse', 'memoryBytes', 1],
    ['maxproc', 'pids', 1],
    // racct keeps cputime in whole seconds: a coarse counter, hence pcpu for the percentage
    ['cputime', 'cpuNanos', 1e9],
    ['pcpu', 'cpuPercent', 1],
    ['readbps', 'blockReadBps', 1],
    ['writebps', 'blockWriteBps', 1],
  ];
  for (const [resource, key, factor] of map) {
    const v = u.get(resource);
    if (v !== undefined) s[key] = v * factor;
  }
  return s;
}

/** The deny amounts of `rctl jail:NAME` (rules as rctl-a'd: `jail:NAME:memoryuse:deny=N`, see rctl.ts). */
export function parseRctlLimits(text: string): Pick<Stats, 'memoryLimitBytes' | 'pidsLimit'> {
  const out: Pick<Stats, 'memoryLimitBytes' | 'pidsLimit'> = {};
  for (const line of text.split('\n')) {
    const m = /^jail:[^:]+:(memoryuse|maxproc):deny=(\d+)(?:\/\w+)?$/.exec(line.trim());
    if (!m) continue;
    if (m[1] === 'memoryuse') out.memoryLimitBytes = Number(m[2]);
    else out.pidsLimit = Number(m[2]);
  }
  return out;
}

interface NetstatInterface {
  name?: unknown;
  network?: unknown;
  'received-bytes'?: unknown;
  'sent-bytes'?: unknown;
}

/**
 * netstat(1) `-I IF -b --libxo json` (if.c intpr: an "interface" list under "statistics", one
 * entry per address; the `<Link#N>` one carries the interface's own counters). The host end of
 * a jail's epair: what it received the jail sent, what it sent the jail received.
 */
export function parseEpairTraffic(json: string, hostIf: string): Pick<Stats, 'netRxBytes' | 'netTxBytes'> {
  let doc: unknown;
  try {
    doc = JSON.parse(json);
  } catch {
    return {};
  }
  const stats = (doc as { statistics?: { interface?: unknown } } | null)?.statistics?.interface;
  const list = Array.isArray(stats) ? (stats as NetstatInterface[]) : [];
  const link = list.find((e) => e.name === hostIf && typeof e.network === 'string' && e.network.startsWith('<Link#'));
  const rx = link?.['received-bytes'];
  const tx = link?.['sent-bytes'];
  if (typeof rx !== 'number' || typeof tx !== 'number') return {};
  return { netRxBytes: tx, netTxBytes: rx };
}

/** Usage of a running jail; the caller checked it exists (jls), so a failing tool only leaves a field out. */
export async function jailUsage(jail: string, hostIf: string | undefined): Promise<Stats> {
  const u = await run(usageArgv(jail), { allowFailure: true });
  const stats: Stats = u.exitCode === 0 ? parseRctlUsage(u.stdout) : {};
  const rules = await run(rulesArgv(jail), { allowFailure: true });
  if (rules.exitCode === 0) Object.assign(stats, parseRctlLimits(rules.stdout));
  if (hostIf !== undefined) {
    const n = await run(interfaceArgv(hostIf), { allowFailure: true });
    if (n.exitCode === 0) Object.assign(stats, parseEpairTraffic(n.stdout, hostIf));
  }
  return stats;
}
