import { readFileSync, readdirSync, rmdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { config, run, type VesselConfig } from '../../util/index.js';
import type { Resource } from '../types.js';
import { cgroupLayout, cgroupSetFromResources, findCgroupDirs, killAll, removeCgroupDir } from './cgroup.js';
import { pidInCgroups } from './control.js';

/**
 * Remove what a run left: processes (only while they still sit in the run's cgroups: pids are
 * reused), then the cgroup directories. Mounts of a Linux container live in its own mount
 * namespace and vanish with it; a 'mount' resource is only a host mount (none today) and is lazily
 * unmounted when present. Absent resources are not an error: cleanup runs again after crashes.
 */
export async function cleanupLinux(resources: Resource[]): Promise<void> {
  const cgroupDirs = resources.filter((r) => r.kind === 'cgroup').map((r) => r.id);
  for (const r of resources) {
    if (r.kind !== 'process') continue;
    const pid = Number(r.id);
    if (pid > 1 && pidInCgroups(pid, cgroupDirs)) {
      try { process.kill(pid, 'SIGKILL'); } catch { /* gone */ }
    }
  }
  if (cgroupDirs.length) await killAll(cgroupSetFromResources(cgroupLayout(), resources));
  const mounted = hostMounts();
  for (const r of [...resources].reverse()) {
    if (r.kind === 'cgroup') await removeCgroupDir(r.id);
    else if (r.kind === 'mount' && mounted.has(r.id)) await run(['umount', '-l', r.id], { allowFailure: true });
  }
}

function hostMounts(): Set<string> {
  const s = new Set<string>();
  for (const l of readFileSync('/proc/self/mounts', 'utf8').split('\n')) {
    const m = l.split(' ')[1];
    if (m) s.add(m.replace(/\\040/g, ' '));
  }
  return s;
}

/** Everything on the host named after this container: cgroup directories of any run, host mounts under its directory. */
export async function findLinuxLeftovers(name: string): Promise<Resource[]> {
  const out: Resource[] = findCgroupDirs(cgroupLayout(), config().cgroupParent, name).map((id) => ({ kind: 'cgroup', id }));
  const dir = `${config().containers}/${name}/`;
  for (const m of hostMounts()) if (m.startsWith(dir)) out.push({ kind: 'mount', id: m });
  return out;
}

/** Container names that own cgroup directories under vessel's parent (any controller). */
export async function linuxInstanceNames(): Promise<string[]> {
  const layout = cgroupLayout();
  const roots = new Set<string>([...Object.values(layout.v1), ...(layout.v2 ? [layout.v2] : [])]);
  const names = new Set<string>();
  for (const r of roots) {
    let entries: string[] = [];
    try {
      entries = readdirSync(join(r, config().cgroupParent));
    } catch {
      continue;
    }
    for (const e of entries) {
      const m = /^(.+)\.[0-9a-z]+$/.exec(e);
      if (m && !e.startsWith('cgroup.') && statSync(join(r, config().cgroupParent, e)).isDirectory()) names.add(m[1]!);
    }
  }
  return [...names];
}

/**
 * gc (and so vessel up's last sweep): the root's cgroup subtree goes once empty, as every other
 * resource vessel made — `vessel` for the default root too, which stayed behind after every
 * `npm start`. A parent named in the configuration (VESSEL_CGROUP_PARENT) is the admin's, who may
 * have set limits on it for all of vessel's containers: kept. rmdir only takes an empty directory,
 * and every start makes it again (prepareCgroupParents).
 */
export async function pruneLinuxParents(cfg: VesselConfig = config()): Promise<void> {
  if (cfg.sources.cgroupParent !== 'default') return;
  const parent = cfg.cgroupParent;
  const layout = cgroupLayout();
  for (const r of new Set<string>([...Object.values(layout.v1), ...(layout.v2 ? [layout.v2] : [])])) {
    try {
      rmdirSync(join(r, parent));
    } catch { /* absent or still in use */ }
  }
}
