import type { ContainerConfig, ExecOptions } from '../types.js';
import { encodePlan, type PlanRecord } from '../plan-records.js';
import { effectiveCapabilities } from './capabilities.js';
import { cgroupLimitWrites } from './cgroup-limits.js';
import type { CgroupLayout } from './cgroup-layout.js';

/**
 * The Linux records of the monitor's plan (native/common/plan.h), rendered from a ContainerConfig:
 * the run's cgroups (directories and limit writes), the bridged network (veth, addresses,
 * gateways — made by netlink calls in native/linux/netlink.c — and the published ports relayed in
 * userland, native/linux/relay.h), the root and the command. Pure.
 */

export interface RunPaths {
  rootfs: string;
  upper: string;
  work: string;
  scratch: string;
}

type Role = 'memory' | 'pids' | 'cpu' | 'cpuacct' | 'unified';

/**
 * One directory per hierarchy under vessel's parent: what it serves (v2: everything; v1: the
 * controllers mounted there, cpu and cpuacct often together; the unified tree for events/kill).
 */
export function cgroupRecords(layout: CgroupLayout, parent: string, cfg: Pick<ContainerConfig, 'limits'>): PlanRecord[] {
  const out: PlanRecord[] = [];
  if (layout.version === 2 && layout.v2) {
    out.push(['cgroup-dir', `${layout.v2}/${parent}`, 'memory,pids,cpu,cpuacct,unified']);
  } else {
    const byMount = new Map<string, Role[]>();
    for (const ctrl of ['memory', 'pids', 'cpu', 'cpuacct'] as const) {
      const mnt = layout.v1[ctrl];
      if (mnt) byMount.set(mnt, [...(byMount.get(mnt) ?? []), ctrl]);
    }
    for (const [mnt, roles] of byMount) out.push(['cgroup-dir', `${mnt}/${parent}`, roles.join(',')]);
    if (layout.v2) out.push(['cgroup-dir', `${layout.v2}/${parent}`, 'unified']);
  }
  for (const w of cgroupLimitWrites(layout.version, cfg.limits)) out.push(['cgroup-write', w.controller, w.file, w.value, w.when ?? 'required']);
  return out;
}

function networkRecords(cfg: ContainerConfig): PlanRecord[] {
  const n = cfg.network;
  if (n.mode === 'host') return [['net', 'host']];
  if (n.mode === 'none') return [['net', 'own']];
  const r: PlanRecord[] = [['net', 'own'], ['veth', n.hostIf, n.containerIf, n.bridge], ['addr', n.address]];
  if (n.address6) r.push(['addr', n.address6]);
  r.push(['gateway4', n.gateway]);
  if (n.gateway6) r.push(['gateway6', n.gateway6]);
  // served by the monitor's relay for each run, once the run is ready (native/linux/relay.h)
  for (const x of n.relays ?? []) r.push(['relay', x.protocol, x.listen, String(x.port), x.target, String(x.targetPort), String(x.count)]);
  return r;
}

export function containerRecords(cfg: ContainerConfig, paths: RunPaths, cgroups: PlanRecord[]): PlanRecord[] {
  const r: PlanRecord[] = [...cgroups, ['rootfs', paths.rootfs]];
  for (const l of cfg.root.layers) r.push(['lower', l]);
  if (cfg.root.ephemeral) r.push(['scratch', paths.scratch]);
  else r.push(['upper', paths.upper], ['work', paths.work]);
  r.push(['hostname', cfg.hostname]);
  for (const m of cfg.mounts) {
    if (m.kind === 'bind') r.push(['bind', m.source, m.target, m.readonly ? 'ro' : 'rw']);
    else r.push(['tmpfs', m.target, m.sizeBytes === undefined ? '' : String(m.sizeBytes), m.mode === undefined ? '' : m.mode.toString(8)]);
  }
  r.push(...common(cfg.env, cfg.argv, cfg.workdir, cfg.user, cfg.tty));
  if (cfg.interactive) r.push(['interactive', '1']);
  r.push(['wait', cfg.wait]);
  r.push(...networkRecords(cfg));
  r.push(['nnp', cfg.security.noNewPrivileges ? '1' : '0']);
  if (cfg.limits.openfiles !== undefined) r.push(['nofile', String(cfg.limits.openfiles)]);
  r.push(...caps(cfg.security.capAdd, cfg.security.capDrop));
  return r;
}

export function renderExecConfig(targetPid: number, cgroupDirs: string[], opts: ExecOptions, security: { capAdd: string[]; capDrop: string[]; noNewPrivileges: boolean }): Buffer {
  const r: PlanRecord[] = [['target', String(targetPid)]];
  for (const d of cgroupDirs) r.push(['cgroup', d]);
  r.push(...common(opts.env, opts.argv, opts.workdir ?? '/', opts.user ?? '', opts.tty));
  r.push(['nnp', security.noNewPrivileges ? '1' : '0']);
  r.push(...caps(security.capAdd, security.capDrop));
  return encodePlan(r);
}

function common(env: string[], argv: string[], workdir: string, user: string, tty: boolean): PlanRecord[] {
  const r: PlanRecord[] = [];
  for (const e of env) r.push(['env', e]);
  for (const a of argv) r.push(['arg', a]);
  r.push(['cwd', workdir || '/']);
  if (user) r.push(['user', user]);
  if (tty) r.push(['tty', '1']);
  return r;
}

function caps(add: string[], drop: string[]): PlanRecord[] {
  const nums = effectiveCapabilities(add, drop);
  return nums.length === 0 ? [['nocaps', '1']] : nums.map((n) => ['cap', String(n)]);
}
