import { existsSync, readFileSync, readdirSync, rmdirSync, watch, writeFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { VesselError, hasErrno } from '../../util/index.js';
import type { Limits } from '../../spec/index.js';
import type { Resource, Stats } from '../types.js';

/**
 * cgroups v1 and v2. These machines are v1 hybrid (v1 memory/pids/cpu/cpuacct plus a
 * controller-less v2 tree at /sys/fs/cgroup/unified); most modern hosts are v2-only. A container
 * gets one fresh directory per controller per run (`<parent>/<name>.<runId>`): v1 pids charges
 * are released seconds after a kill, so reusing a directory would count the dead.
 */
export interface CgroupLayout {
  version: 1 | 2;
  /** v1: controller → mount point. */
  v1: Partial<Record<'memory' | 'pids' | 'cpu' | 'cpuacct', string>>;
  /** The v2 mount (unified on hybrid hosts): cgroup.events lives there. */
  v2?: string;
}

let cachedLayout: CgroupLayout | undefined;

export function cgroupLayout(): CgroupLayout {
  if (cachedLayout) return cachedLayout;
  const layout: CgroupLayout = { version: 1, v1: {} };
  for (const line of readFileSync('/proc/self/mounts', 'utf8').split('\n')) {
    const [, mnt, type, opts] = line.split(' ');
    if (!mnt || !opts) continue;
    if (type === 'cgroup2') layout.v2 ??= mnt;
    if (type === 'cgroup') {
      for (const o of opts.split(',')) {
        if (o === 'memory' || o === 'pids' || o === 'cpu' || o === 'cpuacct') layout.v1[o] ??= mnt;
      }
    }
  }
  if (layout.v2 && existsSync(join(layout.v2, 'cgroup.controllers')) && Object.keys(layout.v1).length === 0) layout.version = 2;
  if (layout.version === 1 && Object.keys(layout.v1).length === 0 && !layout.v2) {
    throw new VesselError('E_UNSUPPORTED', 'no cgroup filesystem is mounted', { hint: 'mount cgroup2 on /sys/fs/cgroup' });
  }
  cachedLayout = layout;
  return layout;
}

/** The directories a container's run uses, in creation order (parents are shared, not recorded). */
export interface CgroupSet {
  /** Every directory of this run: each is a 'cgroup' resource. */
  dirs: string[];
  memory?: string;
  pids?: string;
  cpu?: string;
  cpuacct?: string;
  /** Where cgroup.events / cgroup.kill live (v2 or the unified tree). */
  unified?: string;
}

export function cgroupSet(layout: CgroupLayout, parent: string, leaf: string): CgroupSet {
  const set: CgroupSet = { dirs: [] };
  if (layout.version === 2 && layout.v2) {
    const d = join(layout.v2, parent, leaf);
    set.dirs.push(d);
    set.memory = set.pids = set.cpu = set.cpuacct = set.unified = d;
    return set;
  }
  for (const ctrl of ['memory', 'pids', 'cpu', 'cpuacct'] as const) {
    const mnt = layout.v1[ctrl];
    if (!mnt) continue;
    const d = join(mnt, parent, leaf);
    if (!set.dirs.includes(d)) set.dirs.push(d); // cpu,cpuacct may share one mount
    set[ctrl] = d;
  }
  if (layout.v2) {
    set.unified = join(layout.v2, parent, leaf);
    set.dirs.push(set.unified);
  }
  return set;
}

export function cgroupResources(set: CgroupSet): Resource[] {
  return set.dirs.map((d) => ({ kind: 'cgroup', id: d }));
}

function write(dir: string, file: string, value: string): void {
  try {
    writeFileSync(join(dir, file), value);
  } catch (e) {
    throw new VesselError('E_RUNTIME', `cgroup ${join(dir, file)}: cannot write "${value}": ${(e as Error).message}`);
  }
}

function read(dir: string | undefined, file: string): string | undefined {
  if (!dir) return undefined;
  try {
    return readFileSync(join(dir, file), 'utf8');
  } catch {
    return undefined;
  }
}

/** v2 needs controllers enabled top-down in subtree_control before a child can use them. */
function enableV2Controllers(root: string, parent: string): void {
  const want = ['memory', 'pids', 'cpu'];
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

/** Create the run's directories and write its limits. */
export function createCgroups(layout: CgroupLayout, parent: string, set: CgroupSet, limits: Limits): void {
  if (layout.version === 2 && layout.v2) enableV2Controllers(layout.v2, parent);
  for (const d of set.dirs) mkdirSync(d, { recursive: true });
  if (layout.version === 2) {
    const d = set.memory!;
    if (limits.memoryBytes !== undefined) {
      write(d, 'memory.max', String(limits.memoryBytes));
      if (existsSync(join(d, 'memory.swap.max'))) write(d, 'memory.swap.max', '0');
    }
    if (limits.maxproc !== undefined) write(d, 'pids.max', String(limits.maxproc));
    if (limits.cpuPercent !== undefined) write(d, 'cpu.max', `${Math.max(1000, Math.round(limits.cpuPercent * 1000))} 100000`);
    return;
  }
  if (limits.memoryBytes !== undefined) {
    if (!set.memory) throw new VesselError('E_UNSUPPORTED', 'memory limit asked but the memory cgroup controller is not mounted');
    write(set.memory, 'memory.limit_in_bytes', String(limits.memoryBytes));
    // without this, a container with swap available is slowed down instead of OOM-killed
    if (existsSync(join(set.memory, 'memory.memsw.limit_in_bytes'))) write(set.memory, 'memory.memsw.limit_in_bytes', String(limits.memoryBytes));
    if (existsSync(join(set.memory, 'memory.swappiness'))) {
      try { writeFileSync(join(set.memory, 'memory.swappiness'), '0'); } catch { /* not settable under some parents */ }
    }
  }
  if (limits.maxproc !== undefined) {
    if (!set.pids) throw new VesselError('E_UNSUPPORTED', 'process limit asked but the pids cgroup controller is not mounted');
    write(set.pids, 'pids.max', String(limits.maxproc));
  }
  if (limits.cpuPercent !== undefined) {
    if (!set.cpu) throw new VesselError('E_UNSUPPORTED', 'cpu limit asked but the cpu cgroup controller is not mounted');
    write(set.cpu, 'cpu.cfs_period_us', '100000');
    write(set.cpu, 'cpu.cfs_quota_us', String(Math.max(1000, Math.round(limits.cpuPercent * 1000))));
  }
}

export function cgroupPids(set: CgroupSet): number[] {
  const pids = new Set<number>();
  for (const d of set.dirs) {
    for (const l of (read(d, 'cgroup.procs') ?? '').split('\n')) if (l) pids.add(Number(l));
  }
  return [...pids];
}

export function pidsOfDir(dir: string): number[] {
  return (read(dir, 'cgroup.procs') ?? '').split('\n').filter(Boolean).map(Number);
}

export function oomKills(layout: CgroupLayout, set: CgroupSet): number {
  const text = layout.version === 2 ? read(set.memory, 'memory.events') : read(set.memory, 'memory.oom_control');
  const m = /oom_kill (\d+)/.exec(text ?? '');
  return m ? Number(m[1]) : 0;
}

export function cgroupStats(layout: CgroupLayout, set: CgroupSet): Stats {
  const num = (s: string | undefined) => (s === undefined || s.trim() === 'max' ? undefined : Number(s.trim()));
  const stats: Stats = { oomKills: oomKills(layout, set) };
  if (layout.version === 2) {
    stats.memoryBytes = num(read(set.memory, 'memory.current'));
    stats.memoryLimitBytes = num(read(set.memory, 'memory.max'));
    stats.pids = num(read(set.pids, 'pids.current'));
    const usage = /usage_usec (\d+)/.exec(read(set.cpu, 'cpu.stat') ?? '');
    if (usage) stats.cpuNanos = Number(usage[1]) * 1000;
  } else {
    stats.memoryBytes = num(read(set.memory, 'memory.usage_in_bytes'));
    const lim = num(read(set.memory, 'memory.limit_in_bytes'));
    // v1 reports "no limit" as a huge page-aligned number
    if (lim !== undefined && lim < 2 ** 62) stats.memoryLimitBytes = lim;
    stats.pids = num(read(set.pids, 'pids.current'));
    stats.cpuNanos = num(read(set.cpuacct, 'cpuacct.usage'));
  }
  return stats;
}

/**
 * Resolve once no process is left in the run's cgroups. v2 `cgroup.events` (populated 0) is the
 * exact signal and fs.watch fires on it, even in the controller-less unified tree; polling
 * cgroup.procs is the fallback.
 */
export async function waitEmpty(set: CgroupSet, timeoutMs = 10_000): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  const empty = () => cgroupPids(set).length === 0;
  if (empty()) return true;
  if (set.unified && existsSync(join(set.unified, 'cgroup.events'))) {
    const events = join(set.unified, 'cgroup.events');
    const populated = () => /populated 1/.test(read(set.unified, 'cgroup.events') ?? 'populated 0');
    const done = await new Promise<boolean>((resolve) => {
      let w: ReturnType<typeof watch> | undefined;
      const finish = (v: boolean) => {
        clearTimeout(t);
        w?.close();
        resolve(v);
      };
      const t = setTimeout(() => finish(!populated()), Math.max(0, deadline - Date.now()));
      try {
        w = watch(events, () => {
          if (!populated()) finish(true);
        });
      } catch {
        finish(false);
        return;
      }
      if (!populated()) finish(true);
    });
    if (done && empty()) return true;
  }
  while (Date.now() < deadline) {
    if (empty()) return true;
    await sleep(20);
  }
  return empty();
}

/** SIGKILL everything in the run's cgroups (cgroup.kill on v2; otherwise pid by pid until empty). */
export async function killAll(set: CgroupSet): Promise<void> {
  if (set.unified && existsSync(join(set.unified, 'cgroup.kill'))) {
    try {
      writeFileSync(join(set.unified, 'cgroup.kill'), '1');
    } catch { /* removed meanwhile */ }
  }
  for (let i = 0; i < 50; i++) {
    const pids = cgroupPids(set);
    if (pids.length === 0) return;
    for (const p of pids) {
      try { process.kill(p, 'SIGKILL'); } catch { /* already gone */ }
    }
    await sleep(20);
  }
}

/** Remove one cgroup directory; missing is fine, busy is retried briefly (tasks being reaped). */
export async function removeCgroupDir(dir: string): Promise<void> {
  for (let i = 0; i < 100; i++) {
    try {
      rmdirSync(dir);
      return;
    } catch (e) {
      if (hasErrno(e, 'ENOENT')) return;
      if (!hasErrno(e, 'EBUSY')) throw new VesselError('E_RUNTIME', `cannot remove cgroup ${dir}: ${(e as Error).message}`);
      for (const p of pidsOfDir(dir)) {
        try { process.kill(p, 'SIGKILL'); } catch { /* gone */ }
      }
      await sleep(30);
    }
  }
  throw new VesselError('E_RUNTIME', `cannot remove cgroup ${dir}: still busy`);
}

/** Every cgroup directory on the host that belongs to a run of this container. */
export function findCgroupDirs(layout: CgroupLayout, parent: string, name: string): string[] {
  const roots = new Set<string>([...Object.values(layout.v1), ...(layout.v2 ? [layout.v2] : [])]);
  const out: string[] = [];
  for (const r of roots) {
    const base = join(r, parent);
    let entries: string[];
    try {
      entries = readdirSync(base);
    } catch {
      continue;
    }
    for (const e of entries) if (e.startsWith(`${name}.`) && !e.slice(name.length + 1).includes('.')) out.push(join(base, e));
  }
  return out;
}

/** Rebuild a CgroupSet from recorded resources (for stats/exec/stop of a running container). */
export function cgroupSetFromResources(layout: CgroupLayout, resources: Resource[]): CgroupSet {
  const set: CgroupSet = { dirs: [] };
  for (const r of resources) {
    if (r.kind !== 'cgroup') continue;
    set.dirs.push(r.id);
    if (layout.version === 2) {
      set.memory = set.pids = set.cpu = set.cpuacct = set.unified = r.id;
      continue;
    }
    for (const ctrl of ['memory', 'pids', 'cpu', 'cpuacct'] as const) {
      const mnt = layout.v1[ctrl];
      if (mnt && r.id.startsWith(mnt + '/')) set[ctrl] = r.id;
    }
    if (layout.v2 && r.id.startsWith(layout.v2 + '/')) set.unified = r.id;
  }
  return set;
}
