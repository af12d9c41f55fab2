import { rmSync } from 'node:fs';
import { VesselError, errorMessage, config, containerPaths, acquireLock, pidAlive, log } from '../util/index.js';
import type { ContainerSpec } from '../spec/index.js';
import { driverFor, type ContainerConfig, type Driver, type Resource, type StartedContainer } from '../runtime/index.js';
import type { ContainerState, SupervisorMode } from './types.js';
import { readRawState, readState, writeState } from './state.js';
import { resolveSpec } from './resolve.js';
import { NO_RESTARTS, type RestartCount } from './restart.js';
import { releaseResources, removeLeftovers } from './leftovers.js';
import { clearStopRequest } from './control.js';
import { removeReloadLeftovers } from './surge.js';

/**
 * Everything TypeScript does before a container's native monitor runs it: the name locked, the
 * leftovers of an earlier run removed, the spec resolved (image, command, network leased and its
 * firewall rules applied), and every resource the start will create recorded in the state file
 * before it exists. The same for every mode: `vessel run` (foreground or -d) in the CLI's own
 * process, an Emperor vassal in `vessel up`'s warm service.
 */

export interface PrepareOptions {
  mode: SupervisorMode;
  /** --rm: memory-backed writable layer, container directory and state removed at exit. */
  autoRemove?: boolean;
  output: ContainerConfig['output'];
  /** The restart counter to start from; default: the previous run's (an Emperor respawn). */
  restartCount?: RestartCount;
  /** Recorded as the supervisor until the monitor exists: the process preparing (or the monitor). */
  supervisorPid: number;
  /**
   * Return before the network's firewall rules are applied (PreparedRun.rules), so the caller
   * starts the container meanwhile: the rules are an nft process of their own (~25 ms).
   */
  overlapRules?: boolean;
  /** The monitor's pid, known before it runs (a front end that will exec it: handoff.ts): recorded with the rest. */
  monitorPid?: number;
}

export interface PreparedRun {
  spec: ContainerSpec;
  cfg: ContainerConfig;
  driver: Driver;
  state: ContainerState;
  /** Settled once the firewall rules are applied (at once without overlapRules); await it before calling the container running. */
  rules: Promise<void>;
}

export async function prepareRun(spec: ContainerSpec, opts: PrepareOptions): Promise<PreparedRun> {
  const name = spec.name;
  const paths = containerPaths(config(), name);
  const lock = await acquireLock(paths.lock, { what: `container ${name}` });
  let recorded: Resource[] = [];
  let driver: Driver | undefined;
  let state: ContainerState | undefined;
  try {
    const prev = await readState(name);
    if (prev && prev.supervisorPid !== opts.supervisorPid && prev.supervisorPid !== undefined && prev.status !== 'exited' && prev.status !== 'failed' && pidAlive(prev.supervisorPid)) {
      throw new VesselError('E_EXISTS', `container ${name} is already running (supervised by pid ${prev.supervisorPid})`, { hint: `vessel stop ${name}` });
    }
    driver = await driverFor();
    log().debug({ container: name }, 'leftover check');
    await removeLeftovers(name, prev, driver, { network: spec.network.mode === 'bridge' });
    // a reload whose monitor died half-way: the next container's lease, layer (FreeBSD: jail)
    await removeReloadLeftovers(name, prev, driver);
    // an earlier monitor's record must not be read as this run's, nor an earlier stop as this one's
    rmSync(paths.status, { force: true });
    clearStopRequest(name);
    log().debug({ container: name }, 'resolving spec');
    const resolved = await resolveSpec(spec, { ephemeral: opts.autoRemove ?? false, output: opts.output, ...(opts.overlapRules ? { overlapRules: true } : {}) });
    const { cfg } = resolved;
    // A changed image means the old writable layer belongs to another filesystem: start clean.
    if (prev?.imageId && prev.imageId !== resolved.image.record.id) {
      rmSync(paths.upper, { recursive: true, force: true });
      rmSync(paths.work, { recursive: true, force: true });
    }
    recorded = [
      ...resolved.netResources,
      ...driver.resources(cfg),
      ...(opts.monitorPid === undefined ? [] : [{ kind: 'process' as const, id: String(opts.monitorPid), detail: { role: 'monitor' } }]),
    ];
    const ranBefore = prev !== undefined && (prev.lastExit !== undefined || prev.status === 'running' || prev.status === 'stopping');
    const now = new Date().toISOString();
    state = {
      name,
      spec,
      status: 'created',
      mode: opts.mode,
      supervisorPid: opts.supervisorPid,
      runId: cfg.runId,
      imageId: resolved.image.record.id,
      createdAt: prev?.createdAt ?? now,
      restarts: prev ? prev.restarts + (ranBefore ? 1 : 0) : 0,
      ...(prev?.lastExit ? { lastExit: prev.lastExit } : {}),
      restartCount: opts.restartCount ?? prev?.restartCount ?? NO_RESTARTS,
      resources: recorded,
      autoRemove: opts.autoRemove ?? false,
    };
    writeState(state);
    return { spec, cfg, driver, state, rules: resolved.rules };
  } catch (e) {
    if (recorded.length && driver) await releaseResources(driver, name, recorded).catch(() => undefined);
    if (state) writeState({ ...state, status: 'failed', resources: [], error: errorMessage(e), finishedAt: new Date().toISOString() });
    if (opts.autoRemove) rmSync(paths.dir, { recursive: true, force: true });
    throw e;
  } finally {
    lock.release();
  }
}

/** The monitor runs the container: it is the supervisor of record from now on. */
export async function recordStarted(p: Pick<PreparedRun, 'spec' | 'state'>, started: Pick<StartedContainer, 'pid' | 'monitorPid' | 'resources'>): Promise<ContainerState> {
  const lock = await acquireLock(containerPaths(config(), p.spec.name).lock, { what: `container ${p.spec.name}` });
  try {
    const now = (await readRawState(p.spec.name)) ?? p.state;
    if (now.runId !== p.state.runId) return now; // released and started again meanwhile
    const all = [...now.resources];
    for (const r of started.resources) if (!all.some((x) => x.kind === r.kind && x.id === r.id)) all.push(r);
    const next: ContainerState = {
      ...now,
      ...(now.status === 'created' ? { status: 'running' as const, startedAt: new Date().toISOString() } : {}),
      supervisorPid: started.monitorPid,
      pid: started.pid,
      resources: now.status === 'created' ? all : now.resources,
    };
    writeState(next);
    return next;
  } finally {
    lock.release();
  }
}
