import { existsSync } from 'node:fs';
import { basename, resolve } from 'node:path';
import type { ExitStatus } from '../supervise/index.js';
import { parseSpecFile, renderSpec } from '../spec/index.js';
import type { ContainerSpec } from '../spec/index.js';
import { NO_RESTARTS, Supervisor, decideRestart, readState, recordError, removeContainer, type RestartCount } from '../supervise/index.js';
import { config, containerPaths, errorMessage, log as rootLog, type Log } from '../util/index.js';
import { EmperorChannel, ToEmperor, type EmperorCommand } from './protocol.js';

/**
 * `vessel vassal --config NAME.vessel`: what the Emperor runs, one process per container.
 * It owns one container through the supervisor and translates between the container's life and
 * the Emperor's protocol. The only way to tell uWSGI a container died is to exit non-zero.
 */

export interface VassalOptions {
  /** The rendered spec, NAME.vessel (relative paths are taken from the cwd: the Emperor's dir). */
  configFile: string;
  /** Defaults to the Emperor's socket from UWSGI_EMPEROR_FD; absent when run by hand. */
  channel?: EmperorChannel | undefined;
  /** Seconds between heartbeats (VESSEL_HEARTBEAT, rendered into emperor.ini; default 10). */
  heartbeatSec?: number;
  log?: Log;
}

/** Exit code telling the Emperor "the container died, respawn me" (never 26: that one exiles). */
export const EXIT_RESPAWN = 1;

/**
 * The `event` of the vassal's last log line. The Emperor learns of the exit from the EOF on the
 * vassal's socket, which the kernel sends a moment before the process can be reaped; when its
 * waitpid() comes too early it sleeps a whole emperor-freq (1 s) before it reaps and respawns
 * (seen in 2 of 6 respawns). `vessel up` pokes the stats socket just after this line, so the
 * Emperor looks again at once.
 */
export const EXIT_EVENT = 'vassal-exit';

type Event =
  | { type: 'command'; command: EmperorCommand }
  | { type: 'end' }
  | { type: 'signal'; signal: NodeJS.Signals }
  | { type: 'exited'; run: number; status: ExitStatus };

/** A one-consumer queue: events are handled one at a time, in arrival order. */
class Inbox {
  private readonly items: Event[] = [];
  private waiter: ((e: Event) => void) | undefined;

  push(e: Event): void {
    const w = this.waiter;
    if (w) {
      this.waiter = undefined;
      w(e);
    } else this.items.push(e);
  }

  next(): Promise<Event> {
    const e = this.items.shift();
    if (e) return Promise.resolve(e);
    return new Promise((res) => (this.waiter = res));
  }
}

interface Running {
  id: number;
  sup: Supervisor;
  spec: ContainerSpec;
  loyalTimer: NodeJS.Timeout | undefined;
  /** Ran past min_uptime: loyal and accepting were sent. */
  healthy: boolean;
}

/**
 * A vassal lives as long as its container and idles almost all of that time; one process per
 * container makes its memory the per-container cost. V8 drops the bytecode of functions that
 * have not run for several full collections: a dozen collections once the container runs turn
 * start-up code into free pages (measured 11.3 → ~10.4 MB private memory).
 * The flags are set here, after start-up, not on node's command line: any V8 flag there makes
 * V8 reject node's embedded code cache, and compiling the built-in modules the vassal loads
 * then costs ~25 ms more on every container start (measured).
 */
function releaseStartupGarbage(): void {
  setTimeout(() => {
    void (async () => {
      const [v8, vm] = await Promise.all([import('node:v8'), import('node:vm')]);
      // Only --expose-gc: flags that change how V8 compiles (e.g. --lite-mode, ~1 MB less) are not
      // safe to switch in a running isolate, and a vassal must never crash on its own.
      v8.setFlagsFromString('--expose-gc');
      const gc = vm.runInNewContext('gc') as () => void;
      for (let i = 0; i < 12; i++) gc();
    })().catch(() => undefined);
  }, 1500).unref();
}

function heartbeatFromEnv(): number {
  const n = Number(process.env.VESSEL_HEARTBEAT);
  return Number.isFinite(n) && n >= 1 ? n : 10;
}

type Send = (byte: (typeof ToEmperor)[keyof typeof ToEmperor]) => void;

/**
 * One vassal: the container it owns and what the Emperor has been told. Its life is a loop over
 * one inbox (Emperor commands, the socket's end, signals, the container's exit), one handler per
 * event; a handler returns the vassal's exit code when the vassal must end.
 */
class Vassal {
  readonly file: string;
  private log: Log;
  private readonly inbox = new Inbox();
  private readonly send: Send;
  private heartbeat: NodeJS.Timeout | undefined;
  private runs = 0;
  private current: Running | undefined;
  /** Normalized spec of the last start, running or finished: a reload to the same is no change. */
  private lastText: string | undefined;
  /** Known before the spec parses, so even a rejected spec's error reaches `vessel ps`. */
  private name: string | undefined;
  private readonly onSignal = (signal: NodeJS.Signals): void => this.inbox.push({ type: 'signal', signal });

  constructor(private readonly opts: VassalOptions, private readonly channel: EmperorChannel | undefined) {
    this.file = resolve(opts.configFile);
    this.log = (opts.log ?? rootLog()).child({ vassal: this.file });
    this.name = /^(.+)\.vessel$/.exec(basename(this.file))?.[1];
    this.send = (byte) => channel?.send(byte);
    channel?.on('command', (command) => this.inbox.push({ type: 'command', command }));
    channel?.on('end', () => this.inbox.push({ type: 'end' }));
    process.on('SIGTERM', this.onSignal);
    process.on('SIGINT', this.onSignal);
  }

  async run(): Promise<number> {
    const loaded = await this.load();
    if (loaded) {
      if (!(await this.start(loaded.spec, loaded.text))) return this.finish(EXIT_RESPAWN);
    } else {
      this.log.warn('no valid spec: idle until the file changes');
    }
    this.send(ToEmperor.SPAWNED);
    this.startHeartbeat();
    for (;;) {
      const ev = await this.inbox.next();
      const code = ev.type === 'exited' ? await this.onExited(ev)
        : ev.type === 'command' && ev.command === 'reload' ? await this.onReload()
        : await this.onStop(ev);
      if (code !== undefined) return this.finish(code);
    }
  }

  /** The container ended: respawned by the Emperor when its restart policy says so, else idle. */
  private async onExited(ev: Extract<Event, { type: 'exited' }>): Promise<number | undefined> {
    const run = this.current;
    if (ev.run !== run?.id) return undefined; // a run we stopped ourselves
    clearTimeout(run.loyalTimer);
    this.current = undefined;
    // uWSGI's throttle is the Emperor's back-off: the decision's delay is not used here.
    const decision = decideRestart(run.spec.restart, ev.status, run.sup.state.restartCount ?? NO_RESTARTS, run.sup.uptimeMs());
    run.sup.recordRestartCount(decision.count);
    if (decision.restart) {
      this.log.warn({ exit: ev.status.reason, failures: decision.count.failures }, 'container died: exiting so the Emperor respawns it');
      return EXIT_RESPAWN;
    }
    // Staying up (idle, heartbeating) is what keeps uWSGI from respawning a finished container.
    this.log.info({ exit: ev.status.reason, restart: run.spec.restart.mode }, 'container finished; not restarted by its policy');
    return undefined;
  }

  /** The Emperor's reload (the spec file changed): a changed spec restarts the container in place. */
  private async onReload(): Promise<number | undefined> {
    const next = await this.load();
    if (next && next.text !== this.lastText) {
      this.log.info(this.current ? 'spec changed: restarting the container in place' : 'spec changed: starting the container');
      await this.stopCurrent();
      if (!(await this.start(next.spec, next.text, NO_RESTARTS))) return EXIT_RESPAWN;
    } else if (next) {
      this.log.info(this.current ? 'spec reloaded unchanged: the container keeps running' : 'spec reloaded unchanged: the container stays finished');
    }
    // A reload resets `ready` and `accepting` in the Emperor: say both again.
    this.send(ToEmperor.SPAWNED);
    if (this.current?.healthy) this.send(ToEmperor.ACCEPTING);
    return undefined;
  }

  /** stop (0/2), EOF of the Emperor's socket, or SIGTERM/SIGINT: stop and leave. */
  private async onStop(ev: Event): Promise<number> {
    this.log.info({ why: ev.type === 'command' ? 'emperor stop' : ev.type === 'end' ? 'emperor gone' : ev.type === 'signal' ? ev.signal : ev.type }, 'stopping');
    await this.stopCurrent();
    if (this.name !== undefined && !existsSync(this.file)) await forget(this.name, this.log);
    return 0;
  }

  private startHeartbeat(): void {
    if (this.heartbeat || !this.channel) return;
    const ms = 1000 * (this.opts.heartbeatSec ?? heartbeatFromEnv());
    this.send(ToEmperor.HEARTBEAT);
    this.heartbeat = setInterval(() => this.send(ToEmperor.HEARTBEAT), ms);
  }

  /** The spec on disk, or the reason it cannot be used (recorded for `vessel ps`). */
  private async load(): Promise<{ spec: ContainerSpec; text: string } | undefined> {
    try {
      const spec = await parseSpecFile(this.file);
      this.name = spec.name;
      this.log = (this.opts.log ?? rootLog()).child({ container: spec.name });
      return { spec, text: renderSpec(spec) };
    } catch (e) {
      const error = errorMessage(e);
      this.log.error({ file: this.file, error }, 'spec rejected');
      if (this.name !== undefined) await recordError(this.name, error).catch(() => undefined);
      return undefined;
    }
  }

  /** A reload to a new spec starts the restart counter over; a respawn carries it (state file). */
  private async start(spec: ContainerSpec, text: string, restartCount?: RestartCount): Promise<boolean> {
    const id = ++this.runs;
    const t0 = process.uptime();
    const sup = new Supervisor(spec, {
      mode: 'vassal',
      output: { kind: 'file', path: containerPaths(config(), spec.name).log },
      ...(restartCount ? { restartCount } : {}),
    });
    try {
      await sup.start();
    } catch (e) {
      const error = errorMessage(e);
      this.log.error({ error }, 'container did not start');
      await recordError(spec.name, error).catch(() => undefined);
      return false;
    }
    // Where a start's time goes: node and module loading before t0, the supervisor after it.
    const ms = (sec: number): number => Math.round(sec * 1000);
    this.log.info({ pid: sup.pid, image: spec.image, ...(id === 1 ? { bootMs: ms(t0) } : {}), startMs: ms(process.uptime() - t0) }, 'container started');
    releaseStartupGarbage();
    const run: Running = { id, sup, spec, loyalTimer: undefined, healthy: false };
    // Loyalty only after min_uptime of health: a crash loop is never loyal, so the Emperor's
    // blacklist throttles it; a container that was healthy that long is respawned at once.
    run.loyalTimer = setTimeout(() => {
      if (this.current?.id !== id) return;
      run.healthy = true;
      this.send(ToEmperor.LOYAL);
      this.send(ToEmperor.ACCEPTING);
      this.log.info({ minUptime: spec.minUptime }, 'container healthy: loyal');
    }, spec.minUptime * 1000);
    void sup.wait().then(
      (status) => this.inbox.push({ type: 'exited', run: id, status }),
      (e) => this.inbox.push({ type: 'exited', run: id, status: { code: 125, oomKilled: false, reason: `supervisor failed: ${errorMessage(e)}` } }),
    );
    this.current = run;
    this.lastText = text;
    return true;
  }

  private async stopCurrent(): Promise<void> {
    const run = this.current;
    if (!run) return;
    clearTimeout(run.loyalTimer);
    const status = await run.sup.stop(run.spec.stopTimeout);
    this.current = undefined;
    this.log.info({ exit: status.reason }, 'container stopped');
  }

  private async finish(code: number): Promise<number> {
    clearInterval(this.heartbeat);
    process.off('SIGTERM', this.onSignal);
    process.off('SIGINT', this.onSignal);
    await this.channel?.flush();
    // Read by `vessel up`, which then wakes the Emperor (see EXIT_EVENT).
    this.log.info({ event: EXIT_EVENT, code }, 'vassal exiting');
    return code;
  }
}

/** Runs the vassal until the Emperor stops it or the container dies; returns the exit code. */
export async function runVassal(opts: VassalOptions): Promise<number> {
  return new Vassal(opts, 'channel' in opts ? opts.channel : EmperorChannel.fromEnv()).run();
}

/** The spec file is gone: the container was deleted, not merely stopped, so its state goes too. */
async function forget(name: string, log: Log): Promise<void> {
  try {
    if ((await readState(name)) === undefined) return;
    await removeContainer(name, { force: true });
    log.info('spec deleted: container removed');
  } catch (e) {
    log.error({ err: errorMessage(e) }, 'cannot remove the container; vessel gc will retry');
  }
}
