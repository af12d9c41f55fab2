import { mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { writeFileAtomic, config, withLock, containerLayout } from '../../util/index.js';
import type { ContainerConfig, Resource, StartHooks, StartedContainer } from '../types.js';
import { encodePlan, type PlanRecord } from '../plan-records.js';
import { foregroundSupervision, initBinary, outputRecords, spawnMonitor } from '../monitor-spawn.js';
import { containerIdentity } from './identity.js';
import { cleanup } from './leftovers.js';
import { freebsdMonitorRecords } from './monitor-plan.js';
import { assertMountPointsInside, assertNoSymlinks } from './mount.js';
import { runDir, runFiles } from './names.js';
import { probeHost } from './probe.js';
import { renderStart, type StartPlan } from './render.js';
import { runSteps } from './steps.js';

/**
 * A FreeBSD start in two halves, as on Linux: TypeScript creates the jail and everything around
 * it — the steps render.ts renders (files, root, mount points, devfs ruleset, epair, jail -c, the
 * VNET inside, rctl, portacl, pf) — and writes the monitor's plan; the container's native monitor
 * (native/freebsd) then runs the command in the jail, watches every process of it, and restarts
 * it in the same jail when its policy says so. What TypeScript created is removed by cleanup()
 * (leftovers.ts) once the container's life is over (supervise/release.ts).
 */

/** The jail and its objects, created; on failure whatever was made is removed again. */
export async function createJail(cfg: ContainerConfig, env: NodeJS.ProcessEnv): Promise<StartPlan> {
  // Probes first: a missing kernel feature stops the start before anything exists.
  const facts = await probeHost(cfg, env);
  const p = renderStart(cfg, facts);
  try {
    for (const f of p.files) {
      mkdirSync(dirname(f.path), { recursive: true });
      writeFileAtomic(f.path, f.content);
    }
    const vars = await runSteps(p.rootSteps);
    const rootfs = runFiles(cfg).rootfs;
    assertMountPointsInside(cfg);
    assertNoSymlinks(rootfs, p.rootFiles.map((f) => f.path.slice(rootfs.length)));
    for (const f of p.rootFiles) {
      mkdirSync(dirname(f.path), { recursive: true });
      writeFileAtomic(f.path, f.content);
    }
    // Bridge creation and the host-wide portacl sysctl are read-modify-write: one start at a time.
    const shared = cfg.network.mode === 'bridge' || cfg.security.portacl.length > 0;
    if (shared) await withLock(join(config().run, 'locks', 'freebsd-host.lock'), () => runSteps(p.steps, vars), { what: 'FreeBSD host networking' });
    else await runSteps(p.steps, vars);
    return p;
  } catch (e) {
    await cleanup(p.resources).catch(() => undefined);
    throw e;
  }
}

/** What start() created, beyond what was recorded before it (planned for a VIMAGE kernel). */
function createdResources(planned: Resource[], p: StartPlan): Resource[] {
  const seen = new Set(planned.map((r) => `${r.kind} ${r.id}`));
  return [...planned, ...p.resources.filter((r) => !seen.has(`${r.kind} ${r.id}`))];
}

/**
 * The jail created and the monitor's plan written (0600: it holds the container's environment):
 * SUPERVISION, the container's output, then its records. Returns the plan's path. A start does
 * this and spawns the monitor; under the Emperor, vessel up's service does it for a monitor that asks.
 */
export async function writeFreeBSDPlan(
  cfg: ContainerConfig, supervision: readonly PlanRecord[] | undefined, env: NodeJS.ProcessEnv, planPath?: string,
): Promise<{ plan: string; jail: StartPlan }> {
  const p = await createJail(cfg, env);
  // a run beside the running one has its own plan and status record in its own directory
  const layout = containerLayout(runDir(cfg));
  // a reload's next run: its own plan beside the running one's (the monitor's starter reads it from there)
  const plan = planPath ?? layout.plan;
  try {
    // The root exists now (a ZFS clone too): the user's ids are read from the image it holds.
    const records = freebsdMonitorRecords(cfg, containerIdentity(cfg, { rootReady: true }));
    writeFileAtomic(plan, encodePlan([...(supervision ?? foregroundSupervision(cfg, layout.status)), ...outputRecords(cfg), ...records]), 0o600);
  } catch (e) {
    await cleanup(p.resources).catch(() => undefined);
    throw e;
  }
  return { plan, jail: p };
}

export async function startFreeBSD(cfg: ContainerConfig, hooks: StartHooks, env: NodeJS.ProcessEnv, planned: Resource[]): Promise<StartedContainer> {
  const layout = containerLayout(runDir(cfg));
  const { plan, jail } = await writeFreeBSDPlan(cfg, hooks.supervision, env);
  try {
    // the jail and its root exist; the command does not run yet
    if (hooks.beforeExec) await hooks.beforeExec();
    const m = await spawnMonitor({ binary: initBinary(), plan, status: layout.status, monitorLog: layout.monitorLog, detached: hooks.detached ?? false, cfg });
    return {
      pid: m.initPid,
      monitorPid: m.monitorPid,
      resources: [
        ...createdResources(planned, jail),
        { kind: 'process', id: String(m.monitorPid), detail: { role: 'monitor' } },
        { kind: 'process', id: String(m.initPid), detail: { role: 'init' } },
      ],
      exited: m.exited,
    };
  } catch (e) {
    // the monitor could not run the command (or the hook failed): the jail and its objects go again
    await cleanup(jail.resources).catch(() => undefined);
    throw e;
  }
}
