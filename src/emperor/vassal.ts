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

/** Runs the vassal until the Emperor stops it or the container dies; returns the exit code. */
export async function runVassal(opts: VassalOptions): Promise<number> {
  const file = resolve(opts.configFile);
  const channel = 'channel' in opts ? opts.channel : EmperorChannel.fromEnv();
  let log = (opts.log ?? rootLog()).child({ vassal: file });
  const inbox = new Inbox();
  const send = (byte: (typeof ToEmperor)[keyof typeof ToEmperor]): void => channel?.send(byte);

  channel?.on('command', (command) => inbox.push({ type: 'command', command }));
  channel?.on('end', () => inbox.push({ type: 'end' }));
  const onSignal = (signal: NodeJS.Signals): void => inbox.push({ type: 'signal', signal });
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);

  const heartbeatMs = 1000 * (opts.heartbeatSec ?? heartbeatFromEnv());
  let heartbeat: NodeJS.Timeout | undefined;
  const startHeartbeat = (): void => {
    if (heartbeat || !channel) return;
    send(ToEmperor.HEARTBEAT);
    heartbeat = setInterval(() => send(ToEmperor.HEARTBEAT), heartbeatMs);
  };

  let runs = 0;
  let current: Running | undefined;
  /** Normalized spec of the last start, running or finished: a reload to the same is no change. */
  let lastText: string | undefined;
  // Known before the spec parses, so even a rejected spec's error reaches `vessel ps`.
  let name: string | undefined = /^(.+)\.vessel$/.exec(basename(file))?.[1];

  /** The spec on disk, or the reason it cannot be used (recorded for `vessel ps`). */
  const load = async (): Promise<{ spec: ContainerSpec; text: string } | undefined> => {
    try {
      const spec = await parseSpecFile(file);
      name = spec.name;
      log = (opts.log ?? rootLog()).child({ container: spec.name });
      return { spec, text: renderSpec(spec) };
    } catch (e) {
      const error = errorMessage(e);
      log.error({ file, error }, 'spec rejected');
      if (name !== undefined) await recordError(name, error).catch(() => undefined);
      return undefined;
    }
  };

  /** A reload to a new spec starts the restart counter over; a respawn carries it (state file). */
  const start = async (spec: ContainerSpec, text: string, restartCount?: RestartCount): Promise<boolean> => {
    const id = ++runs;
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
      log.error({ error }, 'container did not start');
      await recordError(spec.name, error).catch(() => undefined);
      return false;
    }
    // Where a start's time goes: node and module loading before t0, the supervisor after it.
    const ms = (sec: number): number => Math.round(sec * 1000);
    log.info({ pid: sup.pid, image: spec.image, ...(id === 1 ? { bootMs: ms(t0) } : {}), startMs: ms(process.uptime() - t0) }, 'container started');
    releaseStartupGarbage();
    const run: Running = { id, sup, spec, loyalTimer: undefined, healthy: false };
    // Loyalty only after min_uptime of health: a crash loop is never loyal, so the Emperor's
    // blacklist throttles it; a container that was healthy that long is respawned at once.
    run.loyalTimer = setTimeout(() => {
      if (current?.id !== id) return;
      run.healthy = true;
      send(ToEmperor.LOYAL);
      send(ToEmperor.ACCEPTING);
      log.info({ minUptime: spec.minUptime }, 'container healthy: loyal');
    }, spec.minUptime * 1000);
    void sup.wait().then(
      (status) => inbox.push({ type: 'exited', run: id, status }),
      (e) => inbox.push({ type: 'exited', run: id, status: { code: 125, oomKilled: false, reason: `supervisor failed: ${errorMessage(e)}` } }),
    );
    current = run;
    lastText = text;
    return true;
  };

  const stopCurrent = async (): Promise<void> => {
    const run = current;
    if (!run) return;
    clearTimeout(run.loyalTimer);
    const status = await run.sup.stop(run.spec.stopTimeout);
    current = undefined;
    log.info({ exit: status.reason }, 'container stopped');
  };

  const finish = async (code: number): Promise<number> => {
    clearInterval(heartbeat);
    process.off('SIGTERM', onSignal);
    process.off('SIGINT', onSignal);
    await channel?.flush();
    // Read by `vessel up`, which then wakes the Emperor (see EXIT_EVENT).
    log.info({ event: EXIT_EVENT, code }, 'vassal exiting');
    return code;
  };

  const loaded = await load();
  if (loaded) {
    if (!(await start(loaded.spec, loaded.text))) return finish(EXIT_RESPAWN);
  } else {
    log.warn('no valid spec: idle until the file changes');
  }
  send(ToEmperor.SPAWNED);
  startHeartbeat();

  for (;;) {
    const ev = await inbox.next();
    if (ev.type === 'exited') {
      if (ev.run !== current?.id) continue; // a run we stopped ourselves
      const run = current;
      clearTimeout(run.loyalTimer);
      current = undefined;
      // uWSGI's throttle is the Emperor's back-off: the decision's delay is not used here.
      const decision = decideRestart(run.spec.restart, ev.status, run.sup.state.restartCount ?? NO_RESTARTS, run.sup.uptimeMs());
      run.sup.recordRestartCount(decision.count);
      if (decision.restart) {
        log.warn({ exit: ev.status.reason, failures: decision.count.failures }, 'container died: exiting so the Emperor respawns it');
        return finish(EXIT_RESPAWN);
      }
      // Staying up (idle, heartbeating) is what keeps uWSGI from respawning a finished container.
      log.info({ exit: ev.status.reason, restart: run.spec.restart.mode }, 'container finished; not restarted by its policy');
      continue;
    }
    if (ev.type === 'command' && ev.command === 'reload') {
      const next = await load();
      if (next && next.text !== lastText) {
        log.info(current ? 'spec changed: restarting the container in place' : 'spec changed: starting the container');
        await stopCurrent();
        if (!(await start(next.spec, next.text, NO_RESTARTS))) return finish(EXIT_RESPAWN);
      } else if (next) {
        log.info(current ? 'spec reloaded unchanged: the container keeps running' : 'spec reloaded unchanged: the container stays finished');
      }
      // A reload resets `ready` and `accepting` in the Emperor: say both again.
      send(ToEmperor.SPAWNED);
      if (current?.healthy) send(ToEmperor.ACCEPTING);
      continue;
    }
    // stop (0/2), EOF of the Emperor's socket, or SIGTERM/SIGINT: stop and leave.
    log.info({ why: ev.type === 'command' ? 'emperor stop' : ev.type === 'end' ? 'emperor gone' : ev.signal }, 'stopping');
    await stopCurrent();
    if (name !== undefined && !existsSync(file)) await forget(name, log);
    return finish(0);
  }
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
