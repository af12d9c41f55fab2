import { readFileSync } from 'node:fs';
import type { Stats } from '../types.js';
import type { CgroupLayout, CgroupSet } from './cgroup-layout.js';
import { cgroupPids, oomKills } from './cgroup-events.js';
import { read } from './cgroup-read.js';

/**
 * What a run's cgroups say it uses, for `vessel stats` and the metrics: memory and its limit,
 * processes and their limit, CPU time, block I/O. The file formats are the kernel's
 * (Documentation/admin-guide/cgroup-v2.rst, filesystems/proc.rst); each parser is pure and
 * tested on captured text.
 */

const num = (s: string | undefined): number | undefined => {
  const t = s?.trim();
  return t === undefined || t === '' || t === 'max' || !/^\d+$/.test(t) ? undefined : Number(t);
};

/** v1 reports "no limit" as a huge page-aligned number (PAGE_COUNTER_MAX × page size). */
const V1_NO_LIMIT = 2 ** 62;

export interface BlockIo {
  readBytes: number;
  writeBytes: number;
}

/** proc(5) /proc/PID/io: `read_bytes` / `write_bytes`, what the process (and its reaped children) caused the storage layer to do. */
export function parseProcIo(text: string): BlockIo {
  const r = /^read_bytes: (\d+)$/m.exec(text);
  const w = /^write_bytes: (\d+)$/m.exec(text);
  return { readBytes: r ? Number(r[1]) : 0, writeBytes: w ? Number(w[1]) : 0 };
}

function processesIo(pids: number[]): BlockIo {
  const io = { readBytes: 0, writeBytes: 0 };
  for (const pid of pids) {
    let text: string;
    try {
      text = readFileSync(`/proc/${pid}/io`, 'utf8');
    } catch {
      continue; // exited meanwhile: its parent has its counts now
    }
    const p = parseProcIo(text);
    io.readBytes += p.readBytes;
    io.writeBytes += p.writeBytes;
  }
  return io;
}

/** v2 `io.stat`: one line per device, `MAJ:MIN rbytes=N wbytes=N rios=N wios=N dbytes=N dios=N`. */
export function parseIoStatV2(text: string): BlockIo {
  const io = { readBytes: 0, writeBytes: 0 };
  for (const line of text.split('\n')) {
    const r = /\brbytes=(\d+)/.exec(line);
    const w = /\bwbytes=(\d+)/.exec(line);
    if (r) io.readBytes += Number(r[1]);
    if (w) io.writeBytes += Number(w[1]);
  }
  return io;
}

/**
 * Memory in use without the reclaimable page cache, as docker stats counts it (its CLI's
 * calculateMemUsageUnixNoCache): usage minus inactive_file of memory.stat (total_inactive_file
 * on v1, where memory.stat also lists the cgroup's own, non-total counters).
 */
export function memoryWithoutCache(usage: number, memoryStat: string | undefined, version: 1 | 2): number {
  const key = version === 1 ? 'total_inactive_file' : 'inactive_file';
  const m = new RegExp(`^${key} (\\d+)$`, 'm').exec(memoryStat ?? '');
  const inactive = m ? Number(m[1]) : 0;
  return inactive < usage ? usage - inactive : usage;
}

export function cgroupStats(layout: CgroupLayout, set: CgroupSet): Stats {
  const stats: Stats = { oomKills: oomKills(layout, set) };
  const put = <K extends keyof Stats>(k: K, v: Stats[K] | undefined): void => {
    if (v !== undefined) stats[k] = v;
  };
  put('pids', num(read(set.pids, 'pids.current')));
  put('pidsLimit', num(read(set.pids, 'pids.max')));
  let io: BlockIo | undefined;
  if (layout.version === 2) {
    const usage = num(read(set.memory, 'memory.current'));
    if (usage !== undefined) stats.memoryBytes = memoryWithoutCache(usage, read(set.memory, 'memory.stat'), 2);
    put('memoryLimitBytes', num(read(set.memory, 'memory.max')));
    const cpu = /usage_usec (\d+)/.exec(read(set.cpu, 'cpu.stat') ?? '');
    if (cpu) stats.cpuNanos = Number(cpu[1]) * 1000;
    const text = read(set.memory, 'io.stat');
    if (text !== undefined) io = parseIoStatV2(text);
  } else {
    const usage = num(read(set.memory, 'memory.usage_in_bytes'));
    if (usage !== undefined) stats.memoryBytes = memoryWithoutCache(usage, read(set.memory, 'memory.stat'), 1);
    const lim = num(read(set.memory, 'memory.limit_in_bytes'));
    if (lim !== undefined && lim < V1_NO_LIMIT) stats.memoryLimitBytes = lim;
    put('cpuNanos', num(read(set.cpuacct, 'cpuacct.usage')));
  }
  // v1 has no usable counter: blkio.throttle.io_service_bytes stays 0 on these 6.x kernels (measured:
  // 20 MiB of O_DIRECT writes and reads in a blkio cgroup, `Total 0`), and io.stat is v2's. The
  // processes' own counters are: a reaped child's are added to its parent's (proc(5) /proc/PID/io),
  // and the container's init reaps every orphan, so the live processes' sum is the run's total.
  io ??= processesIo(cgroupPids(set));
  stats.blockReadBytes = io.readBytes;
  stats.blockWriteBytes = io.writeBytes;
  return stats;
}
