import { existsSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { dependencyGate, hasHealthCheck, parseSpecFile, renderSpec, type ContainerSpec, type DependencyStatus } from '../spec/index.js';
import {
  NO_RESTARTS, abandonNext, checkStartable, decideRestart, isLive, listStates, prepareNext, prepareRun, readError, readRawState, readState, recordError, recordStarted, releaseRun, removeContainer,
  retireCurrent, stopMarker, supervisionRecords, surgeRefusal, switchToNext, writeState, type PreparedRun, type RestartCount,
} from '../supervise/index.js';
import type { Reply, Request, Session } from '../service/index.js';
import { config, containerPaths, errorMessage, pidAlive, type Log } from '../util/index.js';

/**
 * The decisions of one Emperor vassal, made in `vessel up` for the container's native monitor
 * (`vessel-init vassal --config NAME.vessel`, which the Emperor runs through the wrapper): what
 * to run (prepare → the plan), whether a death is respawned (the one restart decision), what a
 * reload changes, and the release of what TypeScript created. The monitor holds the Emperor's
 * socket and the container; this holds no process, only a few hundred bytes per container.
 */

export interface VassalSessionOptions {
  /** The monitor's pid (from its hello): the container's supervisor of record. */
  pid: number;
  /** NAME.vessel as the Emperor passed it (absolute). */
  file: string;
  /** vessel up's socket, written into the plan (the monitor is connected to it already). */
  service: string;
  heartbeatMs: number;
  log: Log;
  /** After a respawn decision: wake the Emperor so it reaps and respawns at once. */
  onRespawn(): void;
  /** vessel up is shutting down: every container is being stopped. */
  shuttingDown(): boolean;
}

/** The container's name: NAME of NAME.vessel, known before the spec parses (so a rejection is shown). */
function nameOf(file: string): string | undefined {
  return /^(.+)\.vessel$/.exec(basename(file))?.[1];
}

export class VassalSession implements Session {
  private log: Log;
  private readonly name: string | undefined;
  /** The spec of the run in progress or last run, normalized: a reload to the same text changes nothing. */
  private lastText: string | undefined;
  private spec: ContainerSpec | undefined;
  /** The run id of the plan handed out last: releases never touch a later start's resources. */
  private runId: string | undefined;
  /** A changed spec: the next prepare starts the restart counter over. */
  private reloading = false;
  private prepared: PreparedRun | undefined;
  /** The changed spec a zero-downtime reload is bringing in. */
  private surging: { spec: ContainerSpec; text: string } | undefined;

  constructor(private readonly o: VassalSessionOptions) {
    this.name = nameOf(o.file);
    this.log = o.log.child({ vassal: o.file, ...(this.name ? { container: this.name } : {}) });
  }

  async handle(req: Request): Promise<Reply> {
    switch (req.verb) {
      case 'prepare':
        return this.prepare();
      case 'started':
        this.log.info({ pid: req.initPid, run: req.run }, 'container started');
        if (this.prepared) await recordStarted(this.prepared, { pid: req.initPid, monitorPid: this.o.pid, resources: [] });
        return { kind: 'ok' };
      case 'exited':
        return this.exited(req.stopped);
      case 'reload':
        return this.reload();
      case 'health':
        this.log.info({ health: req.status, run: req.run }, `container ${req.status}`);
        return { kind: 'ok' };
      case 'release':
        await this.release();
        return { kind: 'released' };
      case 'bye':
        return { kind: 'ok' };
      case 'prepare-next':
        return this.prepareNext();
      case 'stop':
        await this.dependentsDown();
        return { kind: 'ok' };
      case 'switch':
        return this.switch();
      case 'retired':
        return this.retired();
      case 'abandon':
        return this.abandon(req.reason);
    }
  }

  /** The next container of a zero-downtime reload, beside the running one. */
  private async prepareNext(): Promise<Reply> {
    const next = this.surging;
    if (!next) return { kind: 'fail', reason: 'no reload under way' };
    try {
      return { kind: 'plan', path: await prepareNext(next.spec, { service: this.o.service, heartbeatMs: this.o.heartbeatMs }) };
    } catch (e) {
      this.surging = undefined;
      const error = errorMessage(e);
      this.log.error({ error }, 'reload: the new container could not be prepared; the running one goes on');
      await recordError(next.spec.name, `reload: ${error}`).catch(() => undefined);
      return { kind: 'fail', reason: error };
    }
  }

  private async switch(): Promise<Reply> {
    if (!this.spec) return { kind: 'fail', reason: 'no container' };
    try {
      await switchToNext(this.spec.name);
      this.log.info('reload: published ports switched to the new container');
      return { kind: 'switched' };
    } catch (e) {
      return { kind: 'fail', reason: errorMessage(e) };
    }
  }

  /** The old container is gone: the new one is the container now. */
  private async retired(): Promise<Reply> {
    const next = this.surging;
    if (!this.spec || !next) return { kind: 'ok' };
    await retireCurrent(this.spec.name);
    const st = await readRawState(this.spec.name);
    this.spec = next.spec;
    this.lastText = next.text;
    if (st) this.runId = st.runId;
    this.surging = undefined;
    this.log.info('reload done without downtime');
    return { kind: 'ok' };
  }

  private async abandon(reason: string): Promise<Reply> {
    if (this.spec) await abandonNext(this.spec.name, reason);
    this.surging = undefined;
    this.log.warn({ reason }, 'reload rolled back: the running container goes on');
    return { kind: 'released' };
  }

  /** The spec on disk, or why it cannot be used (recorded for `vessel ps`). */
  private async load(): Promise<{ spec: ContainerSpec; text: string } | string> {
    try {
      const spec = await parseSpecFile(this.o.file);
      return { spec, text: renderSpec(spec) };
    } catch (e) {
      const error = errorMessage(e);
      this.log.error({ error }, 'spec rejected');
      if (this.name !== undefined) await recordError(this.name, error).catch(() => undefined);
      return error;
    }
  }

  private async prepare(): Promise<Reply> {
    const loaded = await this.load();
    if (typeof loaded === 'string') return { kind: 'idle', reason: loaded };
    const { spec, text } = loaded;
    const paths = containerPaths(config(), spec.name);
    // depends_on: not before its dependencies are in their condition (the monitor asks again)
    const deps = new Map<string, DependencyStatus>();
    for (const d of spec.dependsOn ?? []) deps.set(d.name, await dependencyStatus(d.name, join(dirname(this.o.file), `${d.name}.vessel`)));
    const gate = dependencyGate(spec, (n) => deps.get(n));
    if (!gate.ready) {
      await noteWaiting(spec, this.o.pid, gate.reason);
      return { kind: 'wait', reason: gate.reason };
    }
    try {
      const p = await prepareRun(spec, {
        mode: 'vassal',
        output: { kind: 'file', path: paths.log },
        supervisorPid: this.o.pid,
        ...(this.reloading ? { restartCount: NO_RESTARTS } : {}),
      });
      const plan = await p.driver.writePlan(p.cfg, supervisionRecords(spec, p.cfg, {
        mode: 'emperor',
        statusPath: paths.status,
        stopMarker: stopMarker(spec.name),
        service: this.o.service,
        heartbeatMs: this.o.heartbeatMs,
      }));
      await recordError(spec.name, undefined);
      this.spec = spec;
      this.prepared = p;
      this.lastText = text;
      this.runId = p.cfg.runId;
      this.reloading = false;
      return { kind: 'plan', path: plan };
    } catch (e) {
      const error = errorMessage(e);
      this.log.error({ error }, 'container did not start');
      await recordError(spec.name, error).catch(() => undefined);
      return { kind: 'fail', reason: error };
    }
  }

  /** The run ended: released, and — unless a stop was asked for — the restart decision. */
  private async exited(stopped: boolean): Promise<Reply> {
    const spec = this.spec;
    if (!spec) return { kind: 'released' };
    const st = await releaseRun(spec.name, { ...(this.runId ? { runId: this.runId } : {}) });
    if (stopped) {
      this.log.info({ exit: st?.lastExit?.reason }, 'container stopped');
      return { kind: 'released' };
    }
    const exit = st?.lastExit ?? { code: 125, oomKilled: false, reason: 'no exit recorded' };
    const uptime = st?.startedAt && st.finishedAt ? Date.parse(st.finishedAt) - Date.parse(st.startedAt) : 0;
    // uWSGI's throttle is the Emperor's back-off: the decision's delay is not used here.
    const decision = decideRestart(spec.restart, exit, st?.restartCount ?? NO_RESTARTS, uptime);
    await this.recordCount(spec.name, decision.count);
    if (decision.restart) {
      this.log.warn({ exit: exit.reason, failures: decision.count.failures }, 'container died: the Emperor respawns it');
      this.o.onRespawn();
      return { kind: 'respawn' };
    }
    // Staying up (idle, heartbeating) is what keeps uWSGI from respawning a finished container.
    this.log.info({ exit: exit.reason, restart: spec.restart.mode }, 'container finished; not restarted by its policy');
    return { kind: 'idle', reason: '' };
  }

  private async recordCount(name: string, count: RestartCount): Promise<void> {
    const s = await readRawState(name);
    if (s && s.runId === this.runId) writeState({ ...s, restartCount: count });
  }

  /** The Emperor's reload (the file changed): a changed normalized spec restarts the container. */
  private async reload(): Promise<Reply> {
    const next = await this.load();
    if (typeof next === 'string' || next.text === this.lastText) {
      this.log.info(typeof next === 'string' ? 'spec rejected: the container is left as it is' : 'spec reloaded unchanged');
      return { kind: 'unchanged' };
    }
    // With ports to keep answering and a health check to tell when the new one is ready: beside.
    const refusal = this.spec && this.prepared ? await surgeRefusal(this.spec, next.spec) : 'not running';
    if (refusal === undefined) {
      this.log.info('spec changed: the new container starts beside the running one (zero-downtime reload)');
      this.surging = next;
      return { kind: 'surge' };
    }
    // The watcher checked it could start, but its image may have gone since: never stop a running
    // container for a spec that cannot start (the spec is asked again on its next change).
    if (this.prepared) {
      const cannot = await checkStartable(next.spec).then(() => undefined, (e: unknown) => errorMessage(e));
      if (cannot !== undefined) {
        this.log.warn({ error: cannot }, 'spec changed but cannot start: the running container goes on');
        if (this.name !== undefined) await recordError(this.name, cannot).catch(() => undefined);
        return { kind: 'unchanged' };
      }
    }
    this.log.info({ why: refusal }, 'spec changed: stop, then start');
    this.reloading = true;
    return { kind: 'changed' };
  }

  private async release(): Promise<void> {
    if (this.spec) await releaseRun(this.spec.name, { ...(this.runId ? { runId: this.runId } : {}) });
  }

  /**
   * A stop under the Emperor (its shutdown stops every vassal at once): the containers that depend
   * on this one and are being stopped too go first. Bounded by their stop timeouts: a dependent that does not stop in time
   * is not waited for.
   */
  private async dependentsDown(): Promise<void> {
    const name = this.spec?.name ?? this.name;
    if (name === undefined) return;
    let deadline = 0;
    for (let said = false; ; said = true) {
      const waiting = (await listStates()).filter((s) => s.name !== name && isLive(s) && (s.spec.dependsOn ?? []).some((d) => d.name === name) && this.goingDown(s.name));
      if (waiting.length === 0) return;
      // their own stop timeouts, and a few seconds for their release
      if (deadline === 0) deadline = Date.now() + Math.max(...waiting.map((s) => s.spec.stopTimeout)) * 1000 + 5000;
      if (Date.now() > deadline) {
        this.log.warn({ dependents: waiting.map((s) => s.name) }, 'stop: the containers that depend on this one are still up past their stop timeout; stopping anyway');
        return;
      }
      if (!said) this.log.info({ dependents: waiting.map((s) => s.name) }, 'stop: waiting for the containers that depend on this one');
      await sleep(100);
    }
  }

  /**
   * Whether a dependent is being stopped too: everything is in a shutdown; otherwise only when its
   * spec is gone as well (one spec deleted while its dependents stay is not held up by them).
   */
  private goingDown(name: string): boolean {
    return this.o.shuttingDown() || !existsSync(join(dirname(this.o.file), `${name}.vessel`));
  }

  /**
   * The monitor is gone. Said bye: it stopped its container and everything is released; if the
   * spec file is gone too, the container was deleted, not merely stopped, so its state goes.
   * Vanished (SIGKILL, the Emperor's curse): its container died with it (pdeathsig); release what
   * this run recorded, once the monitor is really gone, unless a newer start took the name.
   */
  closed(graceful: boolean): void {
    void (async () => {
      if (!graceful) {
        for (let i = 0; i < 200 && pidAlive(this.o.pid); i++) await sleep(10);
        // a reload's next run died with the monitor too (its starter killed every run it started)
        if (this.spec && this.surging) await abandonNext(this.spec.name, 'the monitor died during the reload').catch(() => undefined);
        if (this.spec && this.runId) await releaseRun(this.spec.name, { runId: this.runId }).catch(() => undefined);
      }
      const name = this.spec?.name ?? this.name;
      if (name !== undefined && !existsSync(this.o.file)) await this.forget(name);
    })().catch((e: unknown) => this.log.error({ err: errorMessage(e) }, 'cleanup after the monitor left failed; vessel gc will retry'));
  }

  private async forget(name: string): Promise<void> {
    const s = await readState(name);
    if (s === undefined) {
      await recordError(name, undefined);
      return;
    }
    // a newer monitor of this name (the spec came back) owns the state now
    if (this.runId !== undefined && s.runId !== this.runId) return;
    await removeContainer(name, { force: true });
    this.log.info('spec deleted: container removed');
  }
}

/**
 * What depends_on's gate needs to know of a dependency (spec/depends.ts): its state, and whether
 * its spec — the running one, else the file beside this vassal's — has a health check, which
 * decides the default condition even before it first started.
 */
async function dependencyStatus(name: string, file: string): Promise<DependencyStatus> {
  const st = await readState(name);
  if (!st) {
    const spec = existsSync(file) ? await parseSpecFile(file).catch(() => undefined) : undefined;
    // no state yet: about to start if the Emperor has its file, refused if the watcher recorded an error
    const state = spec !== undefined ? 'starting' : existsSync(file) || readError(name) !== undefined ? 'rejected' : 'missing';
    return { state, hasHealthCheck: spec !== undefined && hasHealthCheck(spec) };
  }
  const checked = hasHealthCheck(st.spec);
  const health = st.health?.status;
  const live = isLive(st);
  const state: DependencyStatus['state'] =
    st.status === 'running' && live ? 'running'
    : st.waiting !== undefined && live ? 'waiting'
    : (st.status === 'created' || st.status === 'restarting') && live ? 'starting'
    : st.status === 'failed' ? 'failed' : 'exited';
  return { state, hasHealthCheck: checked, ...(health !== undefined ? { health } : {}) };
}

/** A container held back by its dependencies: `vessel ps` shows why (its state's `waiting`). */
async function noteWaiting(spec: ContainerSpec, monitorPid: number, reason: string): Promise<void> {
  const cur = await readRawState(spec.name);
  if (cur && cur.waiting === reason && cur.supervisorPid === monitorPid) return;
  const now = new Date().toISOString();
  writeState(cur
    ? { ...cur, waiting: reason, supervisorPid: monitorPid, ...(cur.status === 'running' ? {} : { status: 'created' as const }) }
    : { name: spec.name, spec, status: 'created', mode: 'vassal', supervisorPid: monitorPid, runId: '', createdAt: now, restarts: 0, resources: [], autoRemove: false, waiting: reason });
}
