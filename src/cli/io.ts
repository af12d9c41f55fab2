/**
 * Where a command's words go and what it reads of its caller: this process's own streams, cwd and
 * environment for the Node CLI; the front end's, carried over the service socket, when `vessel up`
 * serves the command (serve.ts). The commands vessel up serves take one of these instead of
 * touching `process`: the warm process serves many callers, each with its own.
 */
export interface CliIo {
  out(s: string): void;
  err(s: string): void;
  cwd: string;
  env: Record<string, string | undefined>;
  /** The caller's stderr is a terminal (progress bars are drawn only there). */
  tty: boolean;
  /** Aborted when the caller has gone (a served command's front end killed): the command stops. */
  signal?: AbortSignal;
}

export function processIo(): CliIo {
  return {
    out: (s) => void process.stdout.write(s),
    err: (s) => void process.stderr.write(s),
    cwd: process.cwd(),
    env: process.env,
    tty: Boolean(process.stderr.isTTY),
  };
}

/** A served caller's io: its words go to the front end as they are written (service/cli.ts). */
export function streamedIo(cwd: string, env: Record<string, string>, stream: { stdout(s: string): void; stderr(s: string): void; signal: AbortSignal }, tty: boolean): CliIo {
  return { out: (s) => stream.stdout(s), err: (s) => stream.stderr(s), cwd, env, tty, signal: stream.signal };
}

/**
 * A path the caller gave, for this process to open: a relative one is the caller's, relative to
 * its working directory (unchanged when that is this process's own, so messages name it as given).
 */
export function callerPath(io: Pick<CliIo, 'cwd'>, p: string, cwd = process.cwd()): string {
  if (p.startsWith('/') || io.cwd === cwd) return p;
  return `${io.cwd.replace(/\/+$/, '')}/${p}`;
}
