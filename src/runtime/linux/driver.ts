import type { ContainerConfig, ContainerRef, Driver, ExecOptions, Plan, Resource, StartHooks, StartedContainer, Stats } from '../types.js';
import { linuxMonitorRecords, linuxResources, startLinux, writeLinuxPlan } from './start.js';
import { execLinux } from './exec.js';
import { signalLinux, statsLinux, stopLinux } from './control.js';
import { cleanupLinux, findLinuxLeftovers, linuxInstanceNames, pruneLinuxParents } from './cleanup.js';
import { initBinary, runPaths } from './paths.js';
import { join } from 'node:path';
import { cgroupLayout, cgroupLimitWrites, cgroupSet } from './cgroup.js';
import { config } from '../../util/index.js';
import { describePlan, type PlanRecord } from '../plan-records.js';

/** Linux: namespaces + overlayfs + cgroups, built by one native helper (native/vessel-init.c). */
export const linuxDriver: Driver = {
  os: 'linux',
  resources(cfg: ContainerConfig): Resource[] {
    return linuxResources(cfg);
  },
  plan(cfg: ContainerConfig): Plan {
    const paths = runPaths(cfg.dir);
    const layout = cgroupLayout();
    const set = cgroupSet(layout, config().cgroupParent, `${cfg.name}.${cfg.runId}`);
    // the container's records of the monitor's plan, one per line, as an operator reviews them
    const text = describePlan(linuxMonitorRecords(cfg));
    // what the monitor then does, as the equivalent commands
    const commands: string[][] = set.dirs.map((d) => ['mkdir', '-p', d]);
    // Every limit as the file write createCgroups makes (cgroupLimitWrites: the same data).
    for (const w of cgroupLimitWrites(layout.version, cfg.limits)) {
      const dir = set[w.controller] ?? `<no ${w.controller} controller: the start fails>`;
      commands.push(['write', join(dir, w.file), w.value, ...(w.when ? [`# ${w.when === 'if-present' ? 'only where the kernel has the file' : 'a refusal is not an error'}`] : [])]);
    }
    commands.push([initBinary(), 'monitor', paths.plan]);
    return { os: 'linux', files: [{ path: paths.plan, content: text }], commands };
  },
  monitorRecords(cfg: ContainerConfig): PlanRecord[] {
    return linuxMonitorRecords(cfg);
  },
  writePlan(cfg: ContainerConfig, supervision: readonly PlanRecord[], planPath?: string): string {
    return writeLinuxPlan(cfg, supervision, planPath);
  },
  start(cfg: ContainerConfig, hooks?: StartHooks): Promise<StartedContainer> {
    return startLinux(cfg, hooks);
  },
  exec(target: ContainerRef, opts: ExecOptions): Promise<number> {
    return execLinux(target, opts);
  },
  signal(target: ContainerRef, signal: string, scope: 'main' | 'all'): Promise<void> {
    return signalLinux(target, signal, scope);
  },
  stop(target: ContainerRef, stopSignal: string, timeoutSec: number): Promise<void> {
    return stopLinux(target, stopSignal, timeoutSec);
  },
  cleanup(resources: Resource[]): Promise<void> {
    return cleanupLinux(resources);
  },
  findLeftovers(name: string): Promise<Resource[]> {
    return findLinuxLeftovers(name);
  },
  instanceNames(): Promise<string[]> {
    return linuxInstanceNames();
  },
  pruneParents(): Promise<void> {
    return pruneLinuxParents();
  },
  async stats(target: ContainerRef): Promise<Stats> {
    return statsLinux(target);
  },
};
