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
}

export function processIo(): CliIo {
  return {
    out: (s) => void process.stdout.write(s),
    err: (s) => void process.stderr.write(s),
    cwd: process.cwd(),
    env: process.env,
  };
}

/** Words collected for a caller elsewhere (the front end prints them). */
export function capturedIo(cwd: string, env: Record<string, string>): CliIo & { stdout(): string; stderr(): string } {
  let out = '';
  let err = '';
  return {
    out: (s) => void (out += s),
    err: (s) => void (err += s),
    cwd,
    env,
    stdout: () => out,
    stderr: () => err,
  };
}
