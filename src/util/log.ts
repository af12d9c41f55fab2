import type { Logger } from 'pino';

/**
 * pino logging for the daemons (vassal, watch, up, supervisor). Loaded on first use only:
 * a plain `vessel run` must not pay pino's start-up cost when nothing is logged.
 * Level from VESSEL_LOG_LEVEL (default "info"; "debug" shows every host command).
 */
let root: Logger | undefined;
let pending: Promise<Logger> | undefined;

export type LogFields = Record<string, unknown>;

/** A minimal logger interface so callers need not import pino's types. */
export interface Log {
  debug(fields: LogFields | string, msg?: string): void;
  info(fields: LogFields | string, msg?: string): void;
  warn(fields: LogFields | string, msg?: string): void;
  error(fields: LogFields | string, msg?: string): void;
  child(bindings: LogFields): Log;
}

export function logLevel(): string {
  return process.env.VESSEL_LOG_LEVEL ?? 'info';
}

export function debugEnabled(): boolean {
  const l = logLevel();
  return l === 'debug' || l === 'trace';
}

/**
 * Initialise the root logger. `pretty` writes human lines (on a TTY); otherwise JSON lines
 * to `destination` (stderr by default) so the Emperor's log stays machine-readable.
 */
export async function initLog(opts: { pretty?: boolean; destination?: number | string } = {}): Promise<Log> {
  if (root) return root;
  pending ??= (async () => {
    const { default: pino } = await import('pino');
    const dest = opts.destination ?? 2;
    if (opts.pretty) {
      const { default: pretty } = await import('pino-pretty');
      root = pino({ level: logLevel(), base: undefined }, pretty({ destination: dest, colorize: true, translateTime: 'HH:MM:ss.l', ignore: 'pid,hostname' }));
    } else {
      root = pino({ level: logLevel(), base: { pid: process.pid } }, pino.destination({ dest, sync: true }));
    }
    return root;
  })();
  return pending;
}

/** A logger usable synchronously: lines logged before initLog() resolves go to stderr as JSON. */
export function log(): Log {
  return root ?? fallback;
}

function write(level: string, bindings: LogFields, a: LogFields | string, msg?: string): void {
  const order = ['trace', 'debug', 'info', 'warn', 'error'];
  if (order.indexOf(level) < order.indexOf(logLevel())) return;
  const fields = typeof a === 'string' ? { msg: a } : { ...a, msg };
  process.stderr.write(JSON.stringify({ level, time: Date.now(), ...bindings, ...fields }) + '\n');
}

function makeFallback(bindings: LogFields): Log {
  return {
    debug: (a, m) => (root ? root.child(bindings).debug(a, m) : write('debug', bindings, a, m)),
    info: (a, m) => (root ? root.child(bindings).info(a, m) : write('info', bindings, a, m)),
    warn: (a, m) => (root ? root.child(bindings).warn(a, m) : write('warn', bindings, a, m)),
    error: (a, m) => (root ? root.child(bindings).error(a, m) : write('error', bindings, a, m)),
    child: (b) => makeFallback({ ...bindings, ...b }),
  };
}

const fallback: Log = makeFallback({});
