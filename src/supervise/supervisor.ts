import { EventEmitter } from 'node:events';
import { mkdirSync, writeFileSync } from 'node:fs';
import { VesselError, errorMessage, config, containerPaths, log } from '../util/index.js';
import type { ContainerSpec } from '../spec/index.js';
import type { ContainerConfig, ContainerRef, ExitStatus, StartedContainer } from '../runtime/index.js';
import type { ContainerState, SupervisorMode } from './types.js';
import { prepareRun, recordStarted, type PreparedRun } from './prepare.js';
import { releaseRun } from './release.js';
import { supervisionRecords, type SupervisionFacts } from './plan.js';
import type { RestartCount } from './restart.js';
import { pidGone, stopMarker } from './control.js';

export interface SuperviseOptions {
  mode: SupervisorMode;
  /** --rm: memory-backed writable layer, container directory and state removed at exit. */
  autoRemove?: boolean;
  /** Default: the container's log file (inherit for a foreground CLI run). */
  output?: ContainerConfig['output'];
  /** The restart counter to start from; default: the previous run's. */
  restartCount?: RestartCount;
  /** Detached (`run -d`): the monitor outlives this process and applies the restart policy. */
  detached?: boolean;
  /** What the monitor is told beyond the mode: the service socket, the release command … */
  monitor?: Omit<SupervisionFacts, 'mode' | 'statusPath' | 'stopMarker'>;
  /**
   * Once the container exists and before its command runs (a driver that makes it in TypeScript:
   * FreeBSD; Linux refuses it). A build's RUN step lists the root here.
   */
  beforeExec?: () => Promise<void>;
  /**
   * Foreground: once the command has ended, before what the container holds (its root, its
   * jail) is released. A build's RUN step reads the root here. Its failure is its own to report
   * (logged here): the release happens all the same.
   */
  beforeRelease?: (status: ExitStatus) => Promise<void>;
}

/**
 * One start of a container by this process: prepared in TypeScript (prepare.ts), run by its
 * native monitor, released when it ends (release.ts). A foreground start waits for the end; a
 * detached one returns once the command runs and leaves only the monitor behind.
 */
export class Supervisor extends EventEmitter {
  readonly spec: ContainerSpec;
  private readonly opts: SuperviseOptions;
  private prepared: PreparedRun | undefined;
  private started: StartedContainer | undefined;
  private exitPromise: Promise<ExitStatus> | undefined;
  private current: ContainerState | undefined;
  private stopping: Promise<ExitStatus> | undefined;

  constructor(spec: ContainerSpec, opts: SuperviseOptions) {
    super();
    this.spec = spec;
    this.opts = opts;
  }

  get pid(): number | undefined {
    return this.started?.pid;
  }

  get monitorPid(): number | undefined {
    return this.started?.monitorPid;
  }

  get state(): ContainerState | undefined {
    return this.current;
  }

  async start(): Promise<void> {
    if (this.prepared) throw new VesselError('E_STATE', `container ${this.spec.name} is already started`);
    const name = this.spec.name;
    const paths = containerPaths(config(), name);
    const output = this.opts.output ?? { kind: 'file' as const, path: paths.log };
    const p = await prepareRun(this.spec, {
      mode: this.opts.mode,
      autoRemove: this.opts.autoRemove ?? false,
      output,
      supervisorPid: process.pid,
      ...(this.opts.restartCount ? { restartCount: this.opts.restartCount } : {}),
      // the published ports' rules are applied while the monitor starts the container
      overlapRules: true,
    });
    this.prepared = p;
    this.current = p.state;
    const detached = this.opts.detached ?? false;
    const supervision = supervisionRecords(this.spec, p.cfg, {
      mode: detached ? 'detached' : 'foreground',
      statusPath: paths.status,
      stopMarker: stopMarker(name),
      ...this.opts.monitor,
    });
    log().debug({ container: name, runId: p.cfg.runId }, 'starting');
    try {
      this.started = await p.driver.start(p.cfg, { supervision, detached, ...(this.opts.beforeExec ? { beforeExec: this.opts.beforeExec } : {}) });
    } catch (e) {
      await p.rules.catch(() => undefined);
      await releaseRun(name, { exit: { code: 125, oomKilled: false, reason: errorMessage(e) } }).catch(() => undefined);
      throw e;
    }
    try {
      await p.rules;
    } catch (e) {
      // without its rules the container is not what was asked for: it goes, with its resources
      await this.abandonStarted(this.started);
      await releaseRun(name, { exit: { code: 125, oomKilled: false, reason: errorMessage(e) } }).catch(() => undefined);
      throw e;
    }
    this.current = await recordStarted(p, this.started);
    log().debug({ container: name, pid: this.started.pid, monitor: this.started.monitorPid }, 'running');
    if (!detached) this.exitPromise = this.started.exited.then((st) => this.finish(st));
    this.emit('started', this.started.pid);
  }

  /** A container started whose start failed after all: its monitor killed (the container dies with it) and waited for. */
  private async abandonStarted(started: StartedContainer): Promise<void> {
    const pid = started.monitorPid;
    try {
      process.kill(pid, 'SIGKILL');
    } catch { /* gone already */ }
    await pidGone(pid, 10_000);
  }

  private async finish(status: ExitStatus): Promise<ExitStatus> {
    if (this.opts.beforeRelease) {
      await this.opts.beforeRelease(status).catch((e: unknown) => log().warn({ container: this.spec.name, err: errorMessage(e) }, 'before release'));
    }
    const st = await releaseRun(this.spec.name, { exit: status });
    if (st) this.current = st;
    const exit = st?.lastExit ?? { ...status, at: new Date().toISOString() };
    const { at: _at, ...plain } = exit;
    this.emit('exit', plain);
    return plain;
  }

  /** Settles when the container has ended and its resources are released (foreground). */
  wait(): Promise<ExitStatus> {
    if (!this.exitPromise) return Promise.reject(new VesselError('E_STATE', `container ${this.spec.name} was not started in the foreground`));
    return this.exitPromise;
  }

  ref(): ContainerRef {
    return { name: this.spec.name, ...(this.started ? { pid: this.started.pid } : {}), resources: this.current?.resources ?? [] };
  }

  /** Stop signal to every process, SIGKILL after the timeout; idempotent. */
  stop(timeoutSec?: number): Promise<ExitStatus> {
    if (!this.exitPromise || !this.prepared) return Promise.reject(new VesselError('E_STATE', `container ${this.spec.name} was not started`));
    if (this.stopping) return this.stopping;
    const timeout = timeoutSec ?? this.spec.stopTimeout;
    // The monitor stops it: the marker says this SIGTERM is a stop (and its timeout), not a signal to forward.
    mkdirSync(containerPaths(config(), this.spec.name).dir, { recursive: true });
    writeFileSync(stopMarker(this.spec.name), `${timeout}\n`);
    try {
      process.kill(this.started!.monitorPid, 'SIGTERM');
    } catch { /* already gone */ }
    this.stopping = this.wait();
    return this.stopping;
  }

  /** Signal the main command ('main') or every process ('all'). */
  async signal(sig: string, scope: 'main' | 'all' = 'main'): Promise<void> {
    if (!this.prepared || !this.started) throw new VesselError('E_STATE', `container ${this.spec.name} is not running`);
    await this.prepared.driver.signal(this.ref(), sig, scope);
  }
}
