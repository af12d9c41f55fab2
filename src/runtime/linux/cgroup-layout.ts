import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { VesselError } from '../../util/index.js';
import type { Resource } from '../types.js';

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
