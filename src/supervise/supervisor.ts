import { EventEmitter } from 'node:events';
import { rmSync } from 'node:fs';
import { VesselError, errorMessage, config, containerPaths, acquireLock, pidAlive, log } from '../util/index.js';
import type { ContainerSpec } from '../spec/index.js';
import type { ContainerConfig, ContainerRef, Driver, ExitStatus, Resource, StartedContainer } from '../runtime/index.js';
import { driverFor } from '../runtime/index.js';
import type { ContainerState, SupervisorMode } from './types.js';
import { readState, writeState } from './state.js';
import { resolveSpec } from './resolve.js';
import { NO_RESTARTS, type RestartCount } from './restart.js';
import { releaseResources, removeLeftovers } from './leftovers.js';

export interface SuperviseOptions {
  mode: SupervisorMode;
  /** --rm: memory-backed writable layer, container directory and state removed at exit. */
  autoRemove?: boolean;
  /** Default: the container's log file (inherit for a foreground CLI run). */
  output?: ContainerConfig['output'];
  /** The restart counter to start from; default: the previous run's (an Emperor respawn). */
  restartCount?: RestartCount;
}

/**
 * One container's lifetime: leftovers of an earlier run removed, every resource recorded in the
 * state file before it is created, the container started through the host's driver, its death
 * (every process gone) turned into an exit status, and its resources released.
 * One Supervisor runs the container once; restart policies live in the caller (a vassal exits so
 * the Emperor respawns it; a detached supervisor loops, see restart.ts).
 */
export class Supervisor extends EventEmitter {
  readonly spec: ContainerSpec;
  private readonly opts: SuperviseOptions;
  private driver: Driver | undefined;
  private started: StartedContainer | undefined;
  private exitPromise: Promise<ExitStatus> | undefined;
  private current: ContainerState;
  private stopping: Promise<ExitStatus> | undefined;

  constructor(spec: ContainerSpec, opts: SuperviseOptions) {
    super();
    this.spec = spec;
    this.opts = opts;
    const now = new Date().toISOString();
    this.current = {
      name: spec.name,
      spec,
      status: 'created',
      mode: opts.mode,
      supervisorPid: process.pid,
      runId: '',
      createdAt: now,
      restarts: 0,
      resources: [],
      autoRemove: opts.autoRemove ?? false,
    };
  }

  get pid(): number | undefined {
    return this.started?.pid;
  }

  get state(): ContainerState {
    return this.current;
  }

  private save(patch: Partial<ContainerState>): void {
    this.current = { ...this.current, ...patch };
    writeState(this.current);
  }

  async start(): Promise<void> {
    if (this.started) throw new VesselError('E_STATE', `container ${this.spec.name} is already started`);
    const name = this.spec.name;
    const paths = containerPaths(config(), name);
    const lock = await acquireLock(paths.lock, { what: `container ${name}` });
    let recorded: Resource[] = [];
    try {
      const prev = await readState(name);
      if (prev && prev.supervisorPid !== process.pid && prev.supervisorPid !== undefined && prev.status !== 'exited' && prev.status !== 'failed') {
        if (pidAlive(prev.supervisorPid)) {
          throw new VesselError('E_EXISTS', `container ${name} is already running (supervised by pid ${prev.supervisorPid})`, {
            hint: `vessel stop ${name}`,
          });
        }
      }
      this.driver = await driverFor();
      log().debug({ container: name }, 'leftover check');
      await removeLeftovers(name, prev, this.driver, { network: this.spec.network.mode === 'bridge' });
      log().debug({ container: name }, 'resolving spec');
      const output = this.opts.output ?? { kind: 'file' as const, path: paths.log };
      const resolved = await resolveSpec(this.spec, { ephemeral: this.opts.autoRemove ?? false, output });
      const { cfg } = resolved;
      // A changed image means the old writable layer belongs to another filesystem: start clean.
      if (prev?.imageId && prev.imageId !== resolved.image.record.id) {
        rmSync(paths.upper, { recursive: true, force: true });
        rmSync(paths.work, { recursive: true, force: true });
      }
      recorded = [...resolved.netResources, ...this.driver.resources(cfg)];
      const ranBefore = prev !== undefined && (prev.lastExit !== undefined || prev.status === 'running' || prev.status === 'stopping');
      this.save({
        status: 'created',
        runId: cfg.runId,
        imageId: resolved.image.record.id,
        createdAt: prev?.createdAt ?? this.current.createdAt,
        restarts: prev ? prev.restarts + (ranBefore ? 1 : 0) : 0,
        ...(prev?.lastExit ? { lastExit: prev.lastExit } : {}),
        restartCount: this.opts.restartCount ?? prev?.restartCount ?? NO_RESTARTS,
        resources: recorded,
        error: undefined,
      });
      const hooks = resolved.plug ? { beforeExec: resolved.plug } : {};
      log().debug({ container: name, runId: cfg.runId }, 'starting');
      this.started = await this.driver.start(cfg, hooks);
      const all = [...recorded];
      for (const r of this.started.resources) if (!all.some((x) => x.kind === r.kind && x.id === r.id)) all.push(r);
      this.save({ status: 'running', pid: this.started.pid, startedAt: new Date().toISOString(), resources: all });
      log().debug({ container: name, pid: this.started.pid }, 'running');
      this.exitPromise = this.started.exited.then((st) => this.finish(st));
      this.emit('started', this.started.pid);
    } catch (e) {
      if (recorded.length && this.driver) await releaseResources(this.driver, this.spec.name, recorded).catch(() => undefined);
      if (this.current.runId) this.save({ status: 'failed', resources: [], error: errorMessage(e), finishedAt: new Date().toISOString() });
      if (this.opts.autoRemove) this.removeFiles();
      throw e;
    } finally {
      lock.release();
    }
  }

  private async finish(status: ExitStatus): Promise<ExitStatus> {
    log().debug({ container: this.spec.name, code: status.code }, 'exited; releasing resources');
    try {
      if (this.driver) await releaseResources(this.driver, this.spec.name, this.current.resources);
    } catch (e) {
      log().warn({ container: this.spec.name, err: errorMessage(e) }, 'cleanup after exit failed; vessel gc will retry');
      this.save({ lastExit: { ...status, at: new Date().toISOString() }, status: 'exited', finishedAt: new Date().toISOString() });
      this.emit('exit', status);
      return status;
    }
    this.save({ status: 'exited', resources: [], lastExit: { ...status, at: new Date().toISOString() }, finishedAt: new Date().toISOString() });
    if (this.opts.autoRemove) this.removeFiles();
    this.emit('exit', status);
    return status;
  }

  /** Record the restart decision's counter after an exit (read back by the next run). */
  recordRestartCount(count: RestartCount): void {
    if (this.opts.autoRemove) return;
    this.save({ restartCount: count });
  }

  /** Milliseconds the container ran (start to exit), for the back-off; 0 before it started. */
  uptimeMs(): number {
    const { startedAt, finishedAt } = this.current;
    if (!startedAt) return 0;
    return (finishedAt ? Date.parse(finishedAt) : Date.now()) - Date.parse(startedAt);
  }

  private removeFiles(): void {
    rmSync(containerPaths(config(), this.spec.name).dir, { recursive: true, force: true });
  }

  /** Settles when the container has ended and its resources are released. */
  wait(): Promise<ExitStatus> {
    if (!this.exitPromise) return Promise.reject(new VesselError('E_STATE', `container ${this.spec.name} was not started`));
    return this.exitPromise;
  }

  ref(): ContainerRef {
    return { name: this.spec.name, ...(this.started ? { pid: this.started.pid } : {}), resources: this.current.resources };
  }

  /** Stop signal to every process, SIGKILL after the timeout; idempotent. */
  stop(timeoutSec?: number): Promise<ExitStatus> {
    if (!this.exitPromise || !this.driver) return Promise.reject(new VesselError('E_STATE', `container ${this.spec.name} was not started`));
    if (this.stopping) return this.stopping;
    if (this.current.status === 'running') this.save({ status: 'stopping' });
    const driver = this.driver;
    this.stopping = driver
      .stop(this.ref(), this.spec.stopSignal, timeoutSec ?? this.spec.stopTimeout)
      .then(() => this.wait());
    return this.stopping;
  }

  /** Signal the main command ('main') or every process ('all'). */
  async signal(sig: string, scope: 'main' | 'all' = 'main'): Promise<void> {
    if (!this.driver || !this.started) throw new VesselError('E_STATE', `container ${this.spec.name} is not running`);
    await this.driver.signal(this.ref(), sig, scope);
  }
}
