import { mkdirSync } from 'node:fs';
import { writeFileAtomic, config, VesselError } from '../../util/index.js';
import type { ContainerConfig, Resource, StartHooks, StartedContainer } from '../types.js';
import { encodePlan, type PlanRecord } from '../plan-records.js';
import { foregroundSupervision, outputRecords, spawnMonitor } from '../monitor-spawn.js';
import { cgroupLayout, cgroupResources, cgroupSet, prepareCgroupParents } from './cgroup.js';
import { cgroupRecords, containerRecords } from './initconf.js';
import { initBinary, runPaths } from './paths.js';

export function cgroupLeaf(cfg: Pick<ContainerConfig, 'name' | 'runId'>): string {
  return `${cfg.name}.${cfg.runId}`;
}

/** What a start creates on the host, recorded before it: the first run's cgroup directories. */
export function linuxResources(cfg: ContainerConfig): Resource[] {
  return cgroupResources(cgroupSet(cgroupLayout(), config().cgroupParent, cgroupLeaf(cfg)));
}

/** The container's records of the monitor's plan. Pure but for the host's cgroup layout. */
export function linuxMonitorRecords(cfg: ContainerConfig): PlanRecord[] {
  return containerRecords(cfg, runPaths(cfg.dir, cfg.root.layerDir), cgroupRecords(cgroupLayout(), config().cgroupParent, cfg));
}

/**
 * The container's directories and vessel's cgroup parents made, and the monitor's plan written
 * (0600: it holds the container's environment). Returns the plan's path. A start does this and
 * spawns the monitor; under the Emperor, vessel up's service does it for a monitor that asks.
 */
export function writeLinuxPlan(cfg: ContainerConfig, supervision?: readonly PlanRecord[], planPath?: string): string {
  const paths = runPaths(cfg.dir, cfg.root.layerDir);
  mkdirSync(paths.rootfs, { recursive: true });
  if (cfg.root.ephemeral) mkdirSync(paths.scratch, { recursive: true });
  else {
    mkdirSync(paths.upper, { recursive: true });
    mkdirSync(paths.work, { recursive: true });
  }
  prepareCgroupParents(cgroupLayout(), config().cgroupParent);
  const sup = supervision ?? foregroundSupervision(cfg, paths.status);
  const plan = planPath ?? paths.plan;
  writeFileAtomic(plan, encodePlan([...sup, ...outputRecords(cfg), ...linuxMonitorRecords(cfg)]), 0o600);
  return plan;
}

/**
 * Start a container under its native monitor (native/common/monitor.c): the plan (supervision
 * records, then the cgroups, network, root and command) is written 0600 — it holds the
 * container's environment — and `vessel-init monitor PLAN` builds the run and reports on fd 3
 * once the command is released. Foreground: the returned `exited` settles when the monitor
 * ends, with the status it recorded. Detached: the monitor has its own session and outlives us.
 */
export async function startLinux(cfg: ContainerConfig, hooks: StartHooks = {}): Promise<StartedContainer> {
  const paths = runPaths(cfg.dir);
  const detached = hooks.detached ?? false;
  // the monitor makes the container and runs its command in one go: there is no moment between
  if (hooks.beforeExec) throw new VesselError('E_UNSUPPORTED', `container ${cfg.name}: the Linux driver has no step between making the container and running its command`);
  writeLinuxPlan(cfg, hooks.supervision);
  const m = await spawnMonitor({ binary: initBinary(), plan: paths.plan, status: paths.status, monitorLog: paths.monitorLog, detached, cfg });
  return {
    pid: m.initPid,
    monitorPid: m.monitorPid,
    resources: [
      ...linuxResources(cfg),
      { kind: 'process', id: String(m.monitorPid), detail: { role: 'monitor' } },
      { kind: 'process', id: String(m.initPid), detail: { role: 'init' } },
    ],
    exited: m.exited,
  };
}
