import { spawn as nodeSpawn } from 'node:child_process';
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
  /** Per fd 0,1,2,(3…): inherit, ignore, a pipe, or an already open fd. */
  stdio?: Array<'inherit' | 'ignore' | 'pipe' | number>;
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

const execaRunner: HostRunner = {
  async run(argv, opts = {}) {
    if (argv.length === 0) throw new VesselError('E_HOST', 'empty host command');
    // execa is loaded on the first host command only: most `vessel` invocations never need it.
    const { execa } = await import('execa');
    const [file, ...args] = argv as [string, ...string[]];
    if (debugEnabled()) log().debug({ cmd: describe(argv) }, 'host command');
    const r = await execa(file, args, {
      input: opts.input,
      cwd: opts.cwd,
      env: opts.env,
      reject: false,
      stripFinalNewline: false,
      timeout: opts.timeoutMs,
      stdin: opts.input === undefined ? 'ignore' : 'pipe',
    });
    const result: HostResult = {
      argv,
      exitCode: r.exitCode ?? (r.failed ? 127 : 0),
      stdout: String(r.stdout ?? ''),
      stderr: String(r.stderr ?? ''),
    };
    if (r.failed && r.exitCode === undefined) {
      // spawn itself failed (ENOENT, EACCES): say which program is missing.
      const code = (r as { code?: string }).code;
      if (!opts.allowFailure) {
        throw new VesselError('E_HOST', `cannot run ${file}: ${code ?? r.shortMessage}`, {
          hint: code === 'ENOENT' ? `${file} is not installed or not on PATH` : undefined,
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
    // node:child_process, not execa: this is the hot path of `vessel run` and needs raw fds.
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

export function hostFailure(r: HostResult): VesselError {
  const detail = (r.stderr.trim() || r.stdout.trim()).split('\n').slice(-3).join(' | ');
  return new VesselError('E_HOST', `${describe(r.argv)} exited ${r.exitCode}${detail ? `: ${detail}` : ''}`);
}

let current: HostRunner = execaRunner;

/**
 * Start loading execa now, in the background, when a caller knows host commands will follow
 * (network plumbing, a store operation): its load is the biggest single cost of a first command.
 */
export function warmHost(): void {
  if (current === execaRunner) void import('execa').catch(() => undefined);
}

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
