import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Limits } from '../../spec/index.js';
import type { CgroupLayout } from './cgroup-layout.js';
import { read } from './cgroup-read.js';

export type LimitController = 'memory' | 'pids' | 'cpu';

/** One write of a limit: FILE of the controller's directory gets VALUE. */
export interface LimitWrite {
  controller: LimitController;
  file: string;
  value: string;
  /**
   * `required` (default): a failure fails the start. `if-present`: only where the kernel has the
   * file (swap accounting is optional). `best-effort`: tried, and a refusal is not an error.
   */
  when?: 'if-present' | 'best-effort';
}

/** cpu = 50% of one CPU → a quota of 50 ms per 100 ms period (at least 1 ms: the kernel's floor). */
const CPU_PERIOD_US = 100_000;
const cpuQuotaUs = (percent: number): number => Math.max(1000, Math.round(percent * 1000));

/**
 * The file writes that set a container's limits, rendered as data (youki's shape: one controller
 * at a time, limits → writes). Pure; the native monitor makes them at every run (native/linux/cgroup.c), plan() shows them.
 */
export function cgroupLimitWrites(version: 1 | 2, limits: Limits): LimitWrite[] {
  const out: LimitWrite[] = [];
  if (version === 2) {
    if (limits.memoryBytes !== undefined) {
      out.push({ controller: 'memory', file: 'memory.max', value: String(limits.memoryBytes) });
      // no swap: a container over its limit is OOM-killed (137), not slowed down
      out.push({ controller: 'memory', file: 'memory.swap.max', value: '0', when: 'if-present' });
    }
    if (limits.maxproc !== undefined) out.push({ controller: 'pids', file: 'pids.max', value: String(limits.maxproc) });
    if (limits.cpuPercent !== undefined) out.push({ controller: 'cpu', file: 'cpu.max', value: `${cpuQuotaUs(limits.cpuPercent)} ${CPU_PERIOD_US}` });
    return out;
  }
  if (limits.memoryBytes !== undefined) {
    out.push({ controller: 'memory', file: 'memory.limit_in_bytes', value: String(limits.memoryBytes) });
    // without this, a container with swap available is slowed down instead of OOM-killed
    out.push({ controller: 'memory', file: 'memory.memsw.limit_in_bytes', value: String(limits.memoryBytes), when: 'if-present' });
    out.push({ controller: 'memory', file: 'memory.swappiness', value: '0', when: 'best-effort' });
  }
  if (limits.maxproc !== undefined) out.push({ controller: 'pids', file: 'pids.max', value: String(limits.maxproc) });
  if (limits.cpuPercent !== undefined) {
    out.push({ controller: 'cpu', file: 'cpu.cfs_period_us', value: String(CPU_PERIOD_US) });
    out.push({ controller: 'cpu', file: 'cpu.cfs_quota_us', value: String(cpuQuotaUs(limits.cpuPercent)) });
  }
  return out;
}

/** v2 needs controllers enabled top-down in subtree_control before a child can use them. */
function enableV2Controllers(root: string, parent: string): void {
  // io: no limit is written, but io.stat (block I/O for `vessel stats`) exists only where it is enabled
  const want = ['memory', 'pids', 'cpu', 'io'];
  const avail = (read(root, 'cgroup.controllers') ?? '').split(/\s+/);
  const ctrls = want.filter((c) => avail.includes(c)).map((c) => `+${c}`).join(' ');
  if (!ctrls) return;
  let dir = root;
  for (const part of ['', ...parent.split('/').filter(Boolean)]) {
    dir = part ? join(dir, part) : dir;
    mkdirSync(dir, { recursive: true });
    try {
      writeFileSync(join(dir, 'cgroup.subtree_control'), ctrls);
    } catch {
      // the root may refuse when it has processes of its own (a container host's own cgroup): limits then fail loudly below
    }
  }
}

/**
 * vessel's parent directory in every hierarchy, with v2's controllers enabled down to it
 * (idempotent): the native monitor creates each run's leaf under it and writes the limits.
 */
export function prepareCgroupParents(layout: CgroupLayout, parent: string): void {
  if (layout.version === 2 && layout.v2) {
    enableV2Controllers(layout.v2, parent);
    return;
  }
  for (const mnt of new Set([...Object.values(layout.v1), ...(layout.v2 ? [layout.v2] : [])])) mkdirSync(join(mnt, parent), { recursive: true });
}
