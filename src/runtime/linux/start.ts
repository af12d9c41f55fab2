import { closeSync, mkdirSync, openSync } from 'node:fs';
import type { Readable } from 'node:stream';
import { VesselError, host, writeFileAtomic, config } from '../../util/index.js';
import type { ContainerConfig, ExitStatus, Resource, StartHooks, StartedContainer } from '../types.js';
import { encodePlan, type PlanRecord } from '../plan-records.js';
import { baseSupervision, exitStatusOf, readMonitorStatus } from '../monitor-status.js';
import { cgroupLayout, cgroupResources, cgroupSet, prepareCgroupParents } from './cgroup.js';
import { cgroupRecords, containerRecords } from './initconf.js';
import { initBinary, runPaths } from './paths.js';
import { signalNumber } from '../signals.js';

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
 * The monitor's own log level: a foreground run shares the user's terminal, where the CLI reports
 * the outcome itself (from the first report and the status record), so the monitor says nothing
 * there unless asked for debug lines.
 */
function monitorEnv(detached: boolean): Record<string, string> | undefined {
  const level = process.env.VESSEL_LOG_LEVEL;
  if (detached || level === 'debug' || level === 'trace') return undefined;
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env)) if (v !== undefined) env[k] = v;
  env.VESSEL_LOG_LEVEL = 'silent';
  return env;
}

/** The first line the monitor writes on fd 3: "started NAME PID" or "error MESSAGE (exit N)". */
function firstReport(pipe: Readable | null, exited: Promise<unknown>): Promise<string> {
  return new Promise((resolve) => {
    let buf = '';
    pipe?.setEncoding('utf8');
    pipe?.on('data', (c: string) => {
      buf += c;
      const nl = buf.indexOf('\n');
      if (nl >= 0) resolve(buf.slice(0, nl));
    });
    pipe?.on('error', () => undefined);
    void exited.then(() => resolve(buf || 'error the monitor exited before the container started (exit 125)'), () => resolve('error the monitor could not be started (exit 125)'));
  });
}

/**
 * Start a container under its native monitor (native/common/monitor.c): the plan (supervision
 * records, then the cgroups, network, root and command) is written 0600 — it holds the
 * container's environment — and `vessel-init monitor PLAN` builds the run and reports on fd 3
 * once the command is released. Foreground: the returned `exited` settles when the monitor
 * ends, with the status it recorded. Detached: the monitor has its own session and outlives us.
 */
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
  const sup = supervision ?? [...baseSupervision(cfg.name, cfg.runId, paths.status, signalNumber(cfg.stopSignal)), ['mode', 'foreground'], ['parent-pid', String(process.pid)]];
  const output: PlanRecord[] = cfg.output.kind === 'file' ? [['log', cfg.output.path]] : [];
  const plan = planPath ?? paths.plan;
  writeFileAtomic(plan, encodePlan([...sup, ...output, ...linuxMonitorRecords(cfg)]), 0o600);
  return plan;
}

export async function startLinux(cfg: ContainerConfig, hooks: StartHooks = {}): Promise<StartedContainer> {
  const paths = runPaths(cfg.dir);
  const detached = hooks.detached ?? false;
  writeLinuxPlan(cfg, hooks.supervision);

  // Detached: the monitor's own lines go to its log file; foreground: to our stderr.
  let errFd: number | undefined;
  if (detached) errFd = openSync(paths.monitorLog, 'a', 0o640);
  const stdin = cfg.interactive && !detached ? 'inherit' : 'ignore';
  const env = monitorEnv(detached);
  const child = host().spawn([initBinary(), 'monitor', paths.plan], {
    stdio: [stdin, detached ? 'ignore' : 'inherit', errFd ?? 'inherit', 'pipe'],
    // Its own session: a terminal's ^C reaches the CLI only, which forwards it once.
    detached: true,
    ...(env ? { env } : {}),
  });
  if (errFd !== undefined) closeSync(errFd);
  const report = child.pipes[3] as Readable | null;
  const line = await firstReport(report, child.exited);
  report?.destroy();

  const statusOf = (): ExitStatus => {
    const st = readMonitorStatus(paths.status);
    if (!st) return { code: 125, oomKilled: false, reason: 'the monitor left no status record' };
    return exitStatusOf(st, cfg.limits.memoryBytes);
  };
  const m = /^started \S+ (\d+)$/.exec(line);
  if (!m) {
    await child.exited.catch(() => undefined);
    const e = /^error (.*?)(?: \(exit (\d+)\))?$/.exec(line);
    const st = readMonitorStatus(paths.status);
    const code = Number(e?.[2] ?? st?.code ?? 125);
    throw new VesselError('E_RUNTIME', `container ${cfg.name}: ${e?.[1] ?? line}`, { exitCode: code >= 125 && code <= 127 ? code : 125 });
  }
  const initPid = Number(m[1]);
  let exited: Promise<ExitStatus>;
  if (detached) {
    child.unref();
    exited = new Promise<ExitStatus>(() => undefined); // the monitor reports to the state, not to us
  } else {
    exited = child.exited.then(statusOf, statusOf);
  }
  return {
    pid: initPid,
    monitorPid: child.pid,
    resources: [
      ...linuxResources(cfg),
      { kind: 'process', id: String(child.pid), detail: { role: 'monitor' } },
      { kind: 'process', id: String(initPid), detail: { role: 'init' } },
    ],
    exited,
  };
}
