import { spawn as nodeSpawn } from 'node:child_process';
import { accessSync, constants as fsConstants, statSync } from 'node:fs';
import type { Socket } from 'node:net';
import { constants } from 'node:os';
import { delimiter, join } from 'node:path';
import { debugEnabled, log } from './log.js';
import { VesselError } from './errors.js';

/**
 * The one way vessel runs host commands (jail, mount, ip, nft, zfs, tar …): argv arrays only,
 * never a shell string built from user input; logged at debug; replaceable by a recorder so the
 * FreeBSD driver can be verified by transcripts on Linux.
 */
export interface HostResult {
  argv: readonly string[];
  exitCode: number;
  stdout: string;
  stderr: string;
}

export interface HostOptions {
  /** Text fed to the command's stdin (pfctl -f -, nft -f -, ip -batch -). */
  input?: string;
  cwd?: string;
  env?: Record<string, string>;
  /** Do not throw on a non-zero exit; the caller inspects exitCode. */
  allowFailure?: boolean;
  timeoutMs?: number;
}

/** A long-lived child (a container's init, a jexec'd command): stdio wired, not captured. */
export interface SpawnOptions {
  cwd?: string;
  env?: Record<string, string>;
  /** Per fd 0,1,2,(3…): inherit, ignore, a pipe, an already open fd, or a socket's (the child gets a copy). */
  stdio?: Array<'inherit' | 'ignore' | 'pipe' | number | Socket>;
  detached?: boolean;
}

export interface SpawnedProcess {
  pid: number;
  /** Readable/writable pipes for fds set to 'pipe' (index = fd). */
  pipes: Array<NodeJS.ReadableStream | NodeJS.WritableStream | null>;
  /** Resolves when the process exits: its exit code, or the signal that killed it. */
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  kill(signal?: NodeJS.Signals | number): void;
  /** Let this process exit without waiting for the child (a detached supervisor). */
  unref(): void;
}

export interface HostRunner {
  run(argv: readonly string[], opts?: HostOptions): Promise<HostResult>;
  spawn(argv: readonly string[], opts?: SpawnOptions): SpawnedProcess;
}

function describe(argv: readonly string[]): string {
  return argv.map((a) => (/^[\w@%+=:,./-]+$/.test(a) ? a : `'${a.replace(/'/g, `'\\''`)}'`)).join(' ');
}

/** After a timeout's SIGTERM, a command still running is killed (the process library's default). */
const KILL_AFTER_MS = 5_000;
/**
 * After the command exits, how long its pipes may stay open: a grandchild it left behind (a
 * daemon it started, a `sleep &`) holds them, and 'close' would wait for that process instead.
 */
const PIPES_AFTER_EXIT_MS = 500;

/**
 * A command run to its end with its output captured. node:child_process directly: the process
 * library vessel used before cost a start ~40 ms of ES-module loading on every first host command
 * (measured), for nothing this needs. A given `env` extends the process's own.
 */
function runToEnd(argv: readonly string[], opts: HostOptions): Promise<HostResult & { spawnError?: string }> {
  const [file, ...args] = argv as [string, ...string[]];
  return new Promise((resolve) => {
    const child = nodeSpawn(file, args, {
      cwd: opts.cwd,
      env: opts.env === undefined ? process.env : { ...process.env, ...opts.env },
      stdio: [opts.input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'],
    });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout?.on('data', (d: Buffer) => out.push(d));
    child.stderr?.on('data', (d: Buffer) => err.push(d));
    let timedOut = false;
    let killer: NodeJS.Timeout | undefined;
    let pipesGrace: NodeJS.Timeout | undefined;
    const timer = opts.timeoutMs === undefined ? undefined : setTimeout(() => {
      timedOut = true;
      child.kill('SIGTERM');
      killer = setTimeout(() => child.kill('SIGKILL'), KILL_AFTER_MS);
    }, opts.timeoutMs);
    let spawnError: string | undefined;
    let settled = false;
    const done = (exitCode: number, extra?: string): void => {
      if (settled) return;
      settled = true;
      for (const t of [timer, killer, pipesGrace]) if (t) clearTimeout(t);
      // pipes a grandchild still holds would keep this process alive
      for (const s of [child.stdin, child.stdout, child.stderr]) s?.destroy();
      const text = Buffer.concat(err).toString('utf8');
      const stderr = extra === undefined ? text : text === '' || text.endsWith('\n') ? text + extra : `${text}\n${extra}`;
      resolve({ argv, exitCode, stdout: Buffer.concat(out).toString('utf8'), stderr, ...(spawnError !== undefined ? { spawnError } : {}) });
    };
    const finish = (code: number | null, signal: NodeJS.Signals | null): void => {
      if (spawnError !== undefined) return done(127);
      if (timedOut) return done(124, `timed out after ${opts.timeoutMs} ms`);
      done(code ?? 128 + (signal ? (constants.signals[signal] ?? 0) : 0));
    };
    // spawn itself failed (ENOENT, EACCES): 'close' follows with no code
    child.once('error', (e: NodeJS.ErrnoException) => { spawnError = e.code ?? e.message; });
    // 'close', not 'exit': the output is complete only once the pipes are — unless something
    // else holds them, then what was read by a short while after the exit
    child.once('close', finish);
    child.once('exit', (code, signal) => { pipesGrace = setTimeout(() => finish(code, signal), PIPES_AFTER_EXIT_MS); });
    if (opts.input !== undefined) {
      child.stdin?.on('error', () => undefined); // a command that exits without reading all of it
      child.stdin?.end(opts.input);
    }
  });
}

const nodeRunner: HostRunner = {
  async run(argv, opts = {}) {
    if (argv.length === 0) throw new VesselError('E_HOST', 'empty host command');
    const file = argv[0]!;
    if (debugEnabled()) log().debug({ cmd: describe(argv) }, 'host command');
    const { spawnError, ...result } = await runToEnd(argv, opts);
    if (spawnError !== undefined) {
      if (!opts.allowFailure) {
        throw new VesselError('E_HOST', `cannot run ${file}: ${spawnError}`, {
          hint: spawnError === 'ENOENT' ? `${file} is not installed or not on PATH` : undefined,
        });
      }
      return result;
    }
    if (result.exitCode !== 0 && !opts.allowFailure) throw hostFailure(result);
    return result;
  },
  spawn(argv, opts = {}) {
    if (argv.length === 0) throw new VesselError('E_HOST', 'empty host command');
    if (debugEnabled()) log().debug({ cmd: describe(argv) }, 'host spawn');
    const [file, ...args] = argv as [string, ...string[]];
    // node:child_process directly: this is the hot path of `vessel run` and needs raw fds.
    const child = nodeSpawn(file, args, {
      cwd: opts.cwd,
      env: opts.env,
      stdio: opts.stdio ?? 'inherit',
      detached: opts.detached ?? false,
    });
    const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((res, rej) => {
      child.once('error', (e) => rej(new VesselError('E_HOST', `cannot run ${file}: ${(e as NodeJS.ErrnoException).code ?? e.message}`)));
      child.once('exit', (code, signal) => res({ code, signal }));
    });
    return {
      pid: child.pid ?? -1,
      pipes: child.stdio.map((s) => s ?? null) as SpawnedProcess['pipes'],
      exited,
      kill: (sig) => {
        try { child.kill(sig); } catch { /* already gone */ }
      },
      unref: () => {
        child.unref();
        for (const s of child.stdio) (s as { unref?: () => void } | null)?.unref?.();
      },
    };
  },
};

/** The last `n` non-empty lines of a command's output. */
function lastLines(text: string, n: number): string[] {
  return text.split('\n').map((l) => l.trimEnd()).filter(Boolean).slice(-n);
}

/** What a spawned child wrote on stderr (see stderrOf). */
export interface StderrTail {
  /** Its last n non-empty lines. */
  lines(n?: number): string[];
  /** Its last n lines joined for one line of error. */
  last(n?: number): string;
  /**
   * Settles once all of it was read. A child's 'exit' can come before its last words are read:
   * a message built right after `await child.exited` awaits this first. Bounded: a grandchild
   * holding the pipe open does not keep it waiting.
   */
  done(): Promise<void>;
}

/**
 * What a spawned child writes on stderr, kept as it runs (its last 8 KiB). For children whose
 * stdio is wired to streams (spawn), where run() cannot be used; run() keeps the whole of its
 * command's output itself. `fd`: another pipe that carries complaints (a grandchild's stderr
 * the child wired there).
 */
export function stderrOf(child: SpawnedProcess, fd = 2): StderrTail {
  let text = '';
  const err = child.pipes[fd] as NodeJS.ReadableStream | null | undefined;
  err?.setEncoding('utf8');
  err?.on('data', (s: string) => {
    text = (text + s).slice(-8192);
  });
  const ended = new Promise<void>((res) => {
    if (!err) return res();
    err.once('end', res);
    err.once('close', res);
    err.once('error', () => res());
  });
  const lines = (n = 2) => lastLines(text, n);
  return {
    lines,
    last: (n = 2) => lines(n).join(' | '),
    done: () => new Promise<void>((res) => {
      const t = setTimeout(res, PIPES_AFTER_EXIT_MS);
      void ended.then(() => { clearTimeout(t); res(); });
    }),
  };
}

export function hostFailure(r: HostResult): VesselError {
  const detail = lastLines(r.stderr.trim() || r.stdout, 3).join(' | ');
  return new VesselError('E_HOST', `${describe(r.argv)} exited ${r.exitCode}${detail ? `: ${detail}` : ''}`);
}

let current: HostRunner = nodeRunner;

export function host(): HostRunner {
  return current;
}

/** Swap the runner (tests: a Recorder). Returns a function that restores the previous one. */
export function setHostRunner(runner: HostRunner): () => void {
  const previous = current;
  current = runner;
  return () => {
    current = previous;
  };
}

const found = new Map<string, boolean>();

/**
 * Whether `program` is an executable file in a directory of PATH, asked once per process: for a
 * choice between tools that do the same job (image/tar-forms.ts), never to skip a required one.
 */
export function onPath(program: string): boolean {
  let yes = found.get(program);
  if (yes === undefined) {
    yes = (process.env.PATH ?? '').split(delimiter).some((dir) => {
      if (!dir) return false;
      try {
        accessSync(join(dir, program), fsConstants.X_OK);
        return statSync(join(dir, program)).isFile();
      } catch {
        return false;
      }
    });
    found.set(program, yes);
  }
  return yes;
}

/** Shorthand for host().run(). */
export function run(argv: readonly string[], opts?: HostOptions): Promise<HostResult> {
  return current.run(argv, opts);
}

export interface RecordedCall {
  argv: string[];
  input?: string;
}

/**
 * Records every command instead of running it, answering from a list of canned responses
 * (first matcher that fits wins; default exit 0 with empty output). Its transcript is what the
 * FreeBSD golden files hold.
 */
export class Recorder implements HostRunner {
  readonly calls: RecordedCall[] = [];
  private readonly responses: Array<{ match: (argv: readonly string[]) => boolean; result: Partial<HostResult> }> = [];

  respond(match: string | RegExp | ((argv: readonly string[]) => boolean), result: Partial<HostResult>): this {
    const fn =
      typeof match === 'function'
        ? match
        : typeof match === 'string'
          ? (argv: readonly string[]) => argv.join(' ').startsWith(match)
          : (argv: readonly string[]) => match.test(argv.join(' '));
    this.responses.push({ match: fn, result });
    return this;
  }

  async run(argv: readonly string[], opts: HostOptions = {}): Promise<HostResult> {
    this.calls.push(opts.input === undefined ? { argv: [...argv] } : { argv: [...argv], input: opts.input });
    const canned = this.responses.find((r) => r.match(argv))?.result ?? {};
    const result: HostResult = { argv, exitCode: canned.exitCode ?? 0, stdout: canned.stdout ?? '', stderr: canned.stderr ?? '' };
    if (result.exitCode !== 0 && !opts.allowFailure) throw hostFailure(result);
    return result;
  }

  /** Recorded like run(); the fake process exits with the canned code of the first matcher. */
  spawn(argv: readonly string[], _opts: SpawnOptions = {}): SpawnedProcess {
    this.calls.push({ argv: [...argv] });
    const canned = this.responses.find((r) => r.match(argv))?.result ?? {};
    return {
      pid: 100000 + this.calls.length,
      pipes: [],
      exited: Promise.resolve({ code: canned.exitCode ?? 0, signal: null }),
      kill: () => undefined,
      unref: () => undefined,
    };
  }

  /** The transcript as text: one command per line, stdin shown indented below it. */
  transcript(): string {
    return this.calls
      .map((c) => describe(c.argv) + (c.input === undefined ? '' : '\n' + c.input.replace(/\n$/, '').split('\n').map((l) => `  | ${l}`).join('\n')))
      .join('\n') + '\n';
  }
}

export { describe as describeArgv };
