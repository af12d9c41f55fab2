import { closeSync, existsSync, mkdirSync, openSync, readFileSync, statSync, unlinkSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { gc, listStates } from '../supervise/index.js';
import { writeFileAtomic, config, serviceSocket, type VesselConfig, VesselError, errorMessage, host, type SpawnedProcess, pidAlive, log as rootLog, type Log } from '../util/index.js';
import { handoffStarted, releaseMonitored } from '../supervise/index.js';
import { startService, type CliHandler, type Hello, type Service, type Session } from '../service/index.js';
import { DEFAULT_TUNING, emperorPaths, heartbeatInterval, renderEmperorIni, vassalEnv, type EmperorPaths, type EmperorTuning } from './render.js';
import { fetchStats, poke } from './stats.js';
import { VassalSession } from './vassal.js';
import { SpecWatcher } from './watch.js';
import { serveMetrics, type MetricsOptions } from './metrics-server.js';

/**
 * `vessel up`: the main job. State directories, the Emperor's config, the real `uwsgi` Emperor
 * and the spec watcher, in the foreground until SIGINT/SIGTERM; then every container is stopped
 * (the Emperor's graceful shutdown) and nothing is left behind.
 */

export interface UpOptions {
  vassalsDir?: string;
  tuning?: Partial<EmperorTuning>;
  /** The uwsgi binary (default: `uwsgi` from PATH). */
  uwsgi?: string;
  log?: Log;
  /** Resolves the returned promise's shutdown when aborted (tests, embedding). */
  signal?: AbortSignal;
  /** Serve Prometheus metrics there (metrics-server.ts). */
  metrics?: Pick<MetricsOptions, 'address' | 'allowRemote' | 'source'>;
  /** Serve the native front end's commands (cli/serve.ts: the CLI is not emperor/'s to import). */
  cli?: CliHandler;
}

/** The vessel CLI of this package: what the wrapper runs for a .vessel file. */
export function cliPath(cfg: VesselConfig): string {
  return join(cfg.packageDir, 'bin', 'vessel.js');
}

/** Where `vessel up` records its own pid (the one to signal to stop everything). */
export function upPidfile(cfg: VesselConfig): string {
  return join(cfg.run, 'vessel-up.pid');
}

function readPid(path: string): number | undefined {
  try {
    const pid = Number(readFileSync(path, 'utf8').trim());
    return pidAlive(pid) ? pid : undefined;
  } catch {
    return undefined;
  }
}

/** Pid of a live Emperor recorded in the pidfile, if any. */
export function runningEmperor(paths: EmperorPaths): number | undefined {
  if (!existsSync(paths.pidfile)) return undefined;
  const pid = Number(readFileSync(paths.pidfile, 'utf8').trim());
  if (!pidAlive(pid)) return undefined;
  // A recycled pid is not an Emperor: check that it is a uwsgi with our ini.
  try {
    const cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
    if (!cmdline.includes(paths.ini)) return undefined;
  } catch {
    /* no /proc (FreeBSD): trust the pidfile */
  }
  return pid;
}

export function prepare(cfg: VesselConfig, vassalsDir: string, tuning: EmperorTuning, uwsgi: string): EmperorPaths {
  for (const d of [cfg.root, cfg.images, cfg.containers, cfg.networks, cfg.run, cfg.emperorDir]) mkdirSync(d, { recursive: true });
  let isDir = false;
  try {
    isDir = statSync(vassalsDir).isDirectory();
  } catch {
    isDir = false;
  }
  if (!isDir) {
    throw new VesselError('E_NOT_FOUND', `${vassalsDir}: no such spec directory`, { hint: 'create it or pass --vassals DIR' });
  }
  const paths = emperorPaths(cfg);
  const pid = runningEmperor(paths);
  if (pid !== undefined) {
    const upPid = readPid(upPidfile(cfg));
    throw new VesselError('E_EXISTS', `an Emperor already runs for ${cfg.root} (pid ${pid}${upPid ? `, vessel up pid ${upPid}` : ''})`, {
      hint: `stop it first: kill ${upPid ?? pid}`,
    });
  }
  const template = readFileSync(join(cfg.packageDir, 'emperor', 'emperor.ini'), 'utf8');
  const env = vassalEnv({ ...cfg, vassalsDir }, tuning, { service: serviceSocket(cfg), nofile: softNofile() });
  env.push(['VESSEL_UWSGI', uwsgi]);
  writeFileAtomic(paths.ini, renderEmperorIni(template, { ...paths, ...tuning, env }));
  // A socket left by a SIGKILLed Emperor would make the watcher's pokes fail until uWSGI rebinds.
  try { unlinkSync(paths.stats); } catch { /* none */ }
  return paths;
}

/** The Emperor's soft limit on open files when the host's is higher (see emperorArgv). */
export const EMPEROR_NOFILE = 4096;

/** This process's soft RLIMIT_NOFILE, where /proc tells it (Linux); undefined elsewhere. */
export function softNofile(limits = '/proc/self/limits'): number | undefined {
  try {
    const m = /^Max open files\s+(\d+)/m.exec(readFileSync(limits, 'utf8'));
    return m ? Number(m[1]) : undefined;
  } catch {
    return undefined;
  }
}

/**
 * How `vessel up` starts uWSGI.
 * - On Linux the Emperor gets SIGTERM (its graceful shutdown) if `vessel up` itself dies, so a
 *   SIGKILLed `up` leaves no Emperor behind without a watcher; setpriv(1) sets the pdeathsig.
 * - Before every exec of a vassal uWSGI closes each fd up to its soft RLIMIT_NOFILE, one
 *   close() at a time: measured 20 ms per spawn at 20000, 4 ms at 4096. The Emperor runs with a
 *   soft limit of 4096 (one fd per vassal, so thousands of vassals still fit); the wrapper
 *   restores the host's limit (VESSEL_NOFILE) before it execs a vassal.
 */
export function emperorArgv(
  uwsgi: string,
  ini: string,
  opts: { platform?: NodeJS.Platform; hasSetpriv?: boolean; nofile?: number | undefined } = {},
): string[] {
  const platform = opts.platform ?? process.platform;
  const hasSetpriv = opts.hasSetpriv ?? existsSync('/usr/bin/setpriv');
  let argv = [uwsgi, '--ini', ini];
  if (opts.nofile !== undefined && opts.nofile > EMPEROR_NOFILE) {
    argv = ['/bin/sh', '-c', `ulimit -S -n ${EMPEROR_NOFILE} && exec "$@"`, 'sh', ...argv];
  }
  return platform === 'linux' && hasSetpriv ? ['/usr/bin/setpriv', '--pdeathsig', 'SIGTERM', '--', ...argv] : argv;
}

/**
 * uWSGI's own lines: the Emperor's events (spawned, loyal, stopped …) at info, trouble at warn,
 * the start-up banner (versions, limits, cores) at debug so it does not drown the rest.
 */
export function uwsgiLineLevel(line: string): 'debug' | 'info' | 'warn' {
  if (/error|unable|cannot|failed|no such|!!!|mercyless|brutally|MUTINY/i.test(line)) return 'warn';
  if (/\[emperor\]|Emperor|RAGNAROK/.test(line)) return 'info';
  return 'debug';
}

/**
 * Relay the Emperor's output through our logger: uWSGI's own lines under `component: emperor`,
 * the monitors' JSON lines (on the Emperor's stderr) with their own fields, through JSON_LOG.
 */
function relay(stream: NodeJS.ReadableStream, log: Log, jsonLog: Log): void {
  const rl = createInterface({ input: stream, crlfDelay: Infinity });
  rl.on('line', (line) => {
    if (line.startsWith('{')) {
      try {
        const rec = JSON.parse(line) as Record<string, unknown> & { level?: number | string; msg?: string };
        // The line's own fields (its component) are the truth, not the relay's; its pid is the
        // monitor's (the relay's own logger has `pid` already).
        const { level, msg, time: _t, pid, ...rest } = rec;
        const fields = pid === undefined ? rest : { ...rest, monitorPid: pid };
        const lv = typeof level === 'number' ? level : { debug: 20, info: 30, warn: 40, error: 50 }[String(level)] ?? 30;
        const m = String(msg ?? '');
        if (lv >= 50) jsonLog.error(fields, m);
        else if (lv >= 40) jsonLog.warn(fields, m);
        else if (lv >= 30) jsonLog.info(fields, m);
        else jsonLog.debug(fields, m);
        return;
      } catch {
        /* not ours: plain line */
      }
    }
    if (line.trim() === '') return;
    const level = uwsgiLineLevel(line);
    log[level]({ src: 'uwsgi' }, line);
  });
}

async function waitForStats(stats: string, child: SpawnedProcess, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let exited: string | undefined;
  void child.exited.then(
    (r) => (exited = `uwsgi exited during start-up (${r.code ?? r.signal})`),
    (e) => (exited = errorMessage(e)),
  );
  for (;;) {
    if (exited !== undefined) throw new VesselError('E_HOST', exited, { hint: 'is uwsgi installed (uwsgi-core)? see the lines above' });
    try {
      await fetchStats(stats, 500);
      return;
    } catch (e) {
      if (Date.now() > deadline) throw new VesselError('E_HOST', `the Emperor did not open ${stats} within ${timeoutMs} ms: ${errorMessage(e)}`);
    }
    await sleep(50);
  }
}

/**
 * After the Emperor died, its vassals die of their pdeathsig — but not in the same instant, and
 * a vassal that is still exiting counts as live: its leftovers must wait until it is gone.
 */
async function vassalsGone(timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const states = await listStates().catch(() => []);
    const live = states.filter((s) => s.mode === 'vassal' && s.supervisorPid !== undefined && pidAlive(s.supervisorPid));
    if (live.length === 0 || Date.now() > deadline) return;
    await sleep(50);
  }
}

/** Remove what containers of dead supervisors left (a SIGKILLed Emperor, a crashed vassal). */
async function sweep(log: Log): Promise<void> {
  try {
    const report = await gc();
    if (report.cleaned.length > 0) log.info({ containers: report.cleaned }, 'removed leftovers of containers whose supervisor died');
    for (const e of report.errors) log.warn({ container: e.name, err: e.error }, 'cannot remove leftovers');
  } catch (e) {
    log.warn({ err: errorMessage(e) }, 'cannot sweep leftovers');
  }
}

/**
 * The service the containers' native monitors ask (src/service/): an Emperor vassal's monitor for
 * its plan and every decision (emperor/vassal.ts), a detached container's monitor for the release
 * at the end of its life.
 */
async function startMonitorService(cfg: VesselConfig, paths: EmperorPaths, tuning: EmperorTuning, log: Log, shuttingDown: () => boolean, cli?: CliHandler): Promise<Service> {
  const path = serviceSocket(cfg);
  const slog = log.child({ component: 'service' });
  // A vassal is exiting to be respawned: poke the Emperor a little later, when it can be reaped
  // (uWSGI sees the EOF before the exit and would otherwise wait a whole emperor-freq).
  const onRespawn = (): void => {
    for (const ms of [20, 60, 150]) setTimeout(() => void poke(paths.stats, 500), ms).unref();
  };
  const heartbeatMs = heartbeatInterval(tuning.requiredHeartbeatSec) * 1000;
  return startService(path, {
    ...(cli ? { cli: (req, stream) => (shuttingDown() ? Promise.resolve({ kind: 'node' as const }) : cli(req, stream)) } : {}),
    open(hello: Exclude<Hello, { kind: 'cli' }>): Session | string {
      if (hello.kind === 'vassal') return new VassalSession({ pid: hello.pid, file: hello.file, service: path, heartbeatMs, log: slog, onRespawn, shuttingDown });
      // a detached container's monitor asks for the release at the end of its life; a handed-off
      // foreground one (supervise/handoff.ts) also says when its container runs
      const { name, pid } = hello;
      return {
        async handle(req) {
          if (req.verb === 'release') {
            const say = await releaseMonitored(name, pid);
            return { kind: 'released', ...(say ? { say } : {}) };
          }
          if (req.verb === 'started') {
            await handoffStarted(name, pid, req.initPid);
            return { kind: 'ok' };
          }
          return req.verb === 'bye' ? { kind: 'ok' } : { kind: 'error', reason: `a detached or foreground monitor does not ask for ${req.verb}` };
        },
        closed: () => undefined,
      };
    },
  }, slog);
}

/** Runs until SIGINT/SIGTERM (exit 0) or until uWSGI dies on its own (exit 1). */
export async function up(opts: UpOptions = {}): Promise<number> {
  const cfg = config();
  const log = (opts.log ?? rootLog()).child({ component: 'up' });
  const vassalsDir = resolve(opts.vassalsDir ?? cfg.vassalsDir);
  const tuning: EmperorTuning = { ...DEFAULT_TUNING, ...opts.tuning };
  const uwsgi = opts.uwsgi ?? process.env.VESSEL_UWSGI ?? 'uwsgi';
  const paths = prepare(cfg, vassalsDir, tuning, uwsgi);
  // Before anything starts: an address that is refused or taken stops `up` with one line.
  const metrics = opts.metrics === undefined ? undefined : await serveMetrics({ ...opts.metrics, statsSocket: paths.stats, log });
  const nofile = softNofile();
  writeFileAtomic(upPidfile(cfg), `${process.pid}\n`);

  // Leftovers of a previous run that was killed: gone before anything starts again.
  await sweep(log);

  // The monitors' service first: the Emperor's vassals ask it for their plans from their first breath.
  let stopping = false;
  const service = await startMonitorService(cfg, paths, tuning, opts.log ?? rootLog(), () => stopping, opts.cli);

  const watcher = new SpecWatcher({ vassalsDir, emperorDir: cfg.emperorDir, statsSocket: paths.stats, log: opts.log ?? rootLog() });
  await watcher.start();

  // Its own process group: a terminal's Ctrl-C reaches `up` only, which then stops the Emperor,
  // and the Emperor stops each vassal through the protocol rather than by a signal race.
  const child = host().spawn(emperorArgv(uwsgi, paths.ini, { nofile }), { stdio: ['ignore', 'pipe', 'pipe'], detached: true });
  const emperorLog = (opts.log ?? rootLog()).child({ component: 'emperor' });
  relay(child.pipes[1] as NodeJS.ReadableStream, emperorLog, opts.log ?? rootLog());
  relay(child.pipes[2] as NodeJS.ReadableStream, emperorLog, opts.log ?? rootLog());

  const stop = (why: string): void => {
    if (stopping) return;
    stopping = true;
    log.info({ why }, 'shutting down: stopping every container');
    // The Emperor's own shutdown sends every vassal the graceful stop byte and waits for them.
    child.kill('SIGTERM');
  };
  const onSignal = (sig: NodeJS.Signals): void => stop(sig);
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  opts.signal?.addEventListener('abort', () => stop('aborted'), { once: true });

  let failed = false;
  try {
    await waitForStats(paths.stats, child, 15_000);
    log.info({ pid: child.pid, emperor: cfg.emperorDir, vassals: vassalsDir, stats: paths.stats }, 'Emperor running');
  } catch (e) {
    if (!stopping) {
      failed = true;
      log.error({ err: errorMessage(e), uwsgi }, 'the Emperor failed to start');
      stop('start-up failed');
    }
  }

  const result = await child.exited.catch((e) => ({ code: 1, signal: null, error: errorMessage(e) }));
  process.off('SIGINT', onSignal);
  process.off('SIGTERM', onSignal);
  await watcher.close();
  await metrics?.close();
  await vassalsGone(10_000);
  await service.close();
  await sweep(log);
  for (const f of [paths.pidfile, paths.stats, upPidfile(cfg)]) {
    try { unlinkSync(f); } catch { /* uWSGI removed it */ }
  }
  if (failed) return 1;
  if (stopping) {
    log.info({ exit: result.code ?? result.signal }, 'Emperor stopped; every container is down');
    return 0;
  }
  log.error({ exit: result.code ?? result.signal }, 'the Emperor died');
  return 1;
}

/**
 * `vessel up --detach`: the same program in the background, its log in $run/emperor.log.
 * Returns once the Emperor answers on its stats socket.
 */
export async function upDetached(args: string[]): Promise<{ pid: number; logFile: string }> {
  const cfg = config();
  mkdirSync(cfg.run, { recursive: true });
  const logFile = join(cfg.run, 'emperor.log');
  const fd = openSync(logFile, 'a');
  const child = host().spawn([process.execPath, cliPath(cfg), 'up', ...args], { stdio: ['ignore', fd, fd], detached: true });
  closeSync(fd);
  const paths = emperorPaths(cfg);
  try {
    await waitForStats(paths.stats, child, 20_000);
  } catch (e) {
    throw new VesselError('E_HOST', `vessel up --detach: ${errorMessage(e)}`, { hint: `see ${logFile}` });
  }
  return { pid: child.pid, logFile };
}
