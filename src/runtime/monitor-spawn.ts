import { closeSync, openSync } from 'node:fs';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { VesselError, config, host } from '../util/index.js';
import type { ContainerConfig, ExitStatus } from './types.js';
import type { PlanRecord } from './plan-records.js';
import { baseSupervision, exitStatusOf, readMonitorStatus } from './monitor-status.js';
import { signalNumber } from './signals.js';

/**
 * Starting a container's native monitor (native/common/monitor.c), the same on every OS: the
 * driver has written its plan; `vessel-init monitor PLAN` runs it and reports on fd 3 once the
 * command is released ("started NAME PID") or why it is not ("error MESSAGE (exit N)").
 * Foreground: `exited` settles when the monitor ends, with the status it recorded. Detached: the
 * monitor has its own session and outlives the caller.
 */

/** vessel-init: the monitor (both OSes), Linux's init and exec, FreeBSD's jail exec (native/build.sh). */
export function initBinary(): string {
  return join(config().libexec, 'vessel-init');
}

/** The container's output: its log file, or (none) the terminal the monitor inherited. */
export function outputRecords(cfg: Pick<ContainerConfig, 'output'>): PlanRecord[] {
  return cfg.output.kind === 'file' ? [['log', cfg.output.path]] : [];
}

/** The supervision of a start from the driver alone: a foreground run that dies with this process. */
export function foregroundSupervision(cfg: Pick<ContainerConfig, 'name' | 'runId' | 'stopSignal'>, statusPath: string): PlanRecord[] {
  return [...baseSupervision(cfg.name, cfg.runId, statusPath, signalNumber(cfg.stopSignal)), ['mode', 'foreground'], ['parent-pid', String(process.pid)]];
}

export interface MonitorStart {
  binary: string;
  plan: string;
  /** The monitor's status record (its exit code once it ended). */
  status: string;
  /** Detached: where the monitor's own lines go (its container's output is in the plan's log). */
  monitorLog: string;
  detached: boolean;
  cfg: Pick<ContainerConfig, 'name' | 'interactive' | 'limits'>;
}

export interface MonitorRun {
  monitorPid: number;
  /** The container's init (Linux) or command (FreeBSD), as the monitor reported it. */
  initPid: number;
  exited: Promise<ExitStatus>;
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

export async function spawnMonitor(o: MonitorStart): Promise<MonitorRun> {
  // Detached: the monitor's own lines go to its log file; foreground: to our stderr.
  let errFd: number | undefined;
  if (o.detached) errFd = openSync(o.monitorLog, 'a', 0o640);
  const stdin = o.cfg.interactive && !o.detached ? 'inherit' : 'ignore';
  const env = monitorEnv(o.detached);
  const child = host().spawn([o.binary, 'monitor', o.plan], {
    stdio: [stdin, o.detached ? 'ignore' : 'inherit', errFd ?? 'inherit', 'pipe'],
    // Its own session: a terminal's ^C reaches the CLI only, which forwards it once.
    detached: true,
    ...(env ? { env } : {}),
  });
  if (errFd !== undefined) closeSync(errFd);
  const report = child.pipes[3] as Readable | null;
  const line = await firstReport(report, child.exited);
  report?.destroy();

  const statusOf = (): ExitStatus => {
    const st = readMonitorStatus(o.status);
    if (!st) return { code: 125, oomKilled: false, reason: 'the monitor left no status record' };
    return exitStatusOf(st, o.cfg.limits.memoryBytes);
  };
  const m = /^started \S+ (\d+)$/.exec(line);
  if (!m) {
    await child.exited.catch(() => undefined);
    const e = /^error (.*?)(?: \(exit (\d+)\))?$/.exec(line);
    const st = readMonitorStatus(o.status);
    const code = Number(e?.[2] ?? st?.code ?? 125);
    throw new VesselError('E_RUNTIME', `container ${o.cfg.name}: ${e?.[1] ?? line}`, { exitCode: code >= 125 && code <= 127 ? code : 125 });
  }
  let exited: Promise<ExitStatus>;
  if (o.detached) {
    child.unref();
    exited = new Promise<ExitStatus>(() => undefined); // the monitor reports to the state, not to us
  } else {
    exited = child.exited.then(statusOf, statusOf);
  }
  return { monitorPid: child.pid, initPid: Number(m[1]), exited };
}
