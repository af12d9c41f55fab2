/**
 * The CLI half of the service protocol: what the native `vessel` front end (native/front/) says to
 * `vessel up`, so a `vessel run` / `stop` / `rm` is decided by the warm TypeScript process instead
 * of booting Node (docs/supervision.md, "the front end"). Pure.
 *
 *   hello 1 cli PID
 *   cwd TEXT | env TEXT (K=V) | arg TEXT        (no reply: the front end sends them all at once)
 *   term COLUMNS                                its stderr is a terminal (a progress bar may be drawn)
 *   go                                          → the outcome, several lines:
 *     node                                        run the Node CLI instead (nothing was done; always first)
 *     stdout TEXT | stderr TEXT … exit N          print (as the command writes it), then exit N
 *     stderr TEXT … setenv TEXT … argv TEXT … exec   print, then exec ARGV with the variables set
 *
 * The front end going away before the outcome (Ctrl-C, a kill) stops the command: its request's
 * signal is aborted, as a signal would stop the Node CLI.
 *
 * TEXT is escaped so one line carries any bytes: `\\` is a backslash, `\xHH` any byte below 0x20,
 * 0x7f or above (a name in another encoding must come back as it went). native/front/wire.c is the
 * other side of escape/unescape.
 */

export interface CliRequest {
  /** The front end's pid: the monitor's pid too when it execs one (the supervisor of record). */
  pid: number;
  cwd: string;
  env: Record<string, string>;
  args: string[];
  /** The front end's stderr is a terminal this wide (0: width unknown). */
  term?: { columns: number };
}

/** Where a served command's output goes while it runs, and what says its caller has gone. */
export interface CliStream {
  stdout(s: string): void;
  stderr(s: string): void;
  /** Aborted when the front end goes away before the outcome. */
  signal: AbortSignal;
}

export type CliOutcome =
  | { kind: 'node' }
  | { kind: 'done'; stdout: string; stderr: string; code: number }
  | { kind: 'exec'; stderr: string; argv: string[]; env: Record<string, string> };

/** Decides (and, unless it answers `node`, runs) one request; output already streamed is not in the outcome. */
export type CliHandler = (req: CliRequest, stream: CliStream) => Promise<CliOutcome>;

/** Every byte that would break a line, or be read differently by the other side, as \xHH. */
export function escapeText(s: string | Buffer): string {
  const b = typeof s === 'string' ? Buffer.from(s, 'utf8') : s;
  let out = '';
  for (const c of b) {
    if (c === 0x5c) out += '\\\\';
    else if (c < 0x20 || c >= 0x7f) out += `\\x${c.toString(16).padStart(2, '0')}`;
    else out += String.fromCharCode(c);
  }
  return out;
}

/** The bytes of an escaped TEXT, or undefined when it is not one (a stray backslash). */
export function unescapeText(t: string): Buffer | undefined {
  const out: number[] = [];
  for (let i = 0; i < t.length; i++) {
    const c = t.charCodeAt(i);
    if (c !== 0x5c) {
      if (c < 0x20 || c >= 0x7f) return undefined;
      out.push(c);
      continue;
    }
    if (t[i + 1] === '\\') {
      out.push(0x5c);
      i++;
    } else if (t[i + 1] === 'x' && /^[0-9a-fA-F]{2}$/.test(t.slice(i + 2, i + 4))) {
      out.push(parseInt(t.slice(i + 2, i + 4), 16));
      i += 3;
    } else return undefined;
  }
  return Buffer.from(out);
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

/** TEXT as a string, or undefined when it is not escaped right or not UTF-8 (Node would change it). */
export function textOf(t: string): string | undefined {
  const b = unescapeText(t);
  if (!b) return undefined;
  try {
    return utf8.decode(b);
  } catch {
    return undefined;
  }
}

export type CliLine = { kind: 'cwd' | 'env' | 'arg'; text: string } | { kind: 'term'; columns: number } | { kind: 'go' } | { kind: 'bad'; why: string } | { kind: 'foreign' };

/**
 * One line of a CLI session. `foreign` is a well-formed line this side will not read as text (not
 * UTF-8): the request then goes to the Node CLI, which sees the bytes as they are.
 */
export function parseCliLine(line: string): CliLine {
  if (line === 'go') return { kind: 'go' };
  const term = /^term (\d{1,5})$/.exec(line);
  if (term) return { kind: 'term', columns: Number(term[1]) };
  const m = /^(cwd|env|arg) (.*)$/s.exec(line);
  if (!m) return { kind: 'bad', why: `unknown request ${JSON.stringify(line.slice(0, 80))}` };
  if (unescapeText(m[2]!) === undefined) return { kind: 'bad', why: `${m[1]}: malformed escape` };
  const text = textOf(m[2]!);
  if (text === undefined) return { kind: 'foreign' };
  return { kind: m[1] as 'cwd' | 'env' | 'arg', text };
}

/** Output as `stdout`/`stderr` lines (each ends in a newline): one per output line, each kept under the line limit. */
export function formatOutput(kind: 'stdout' | 'stderr', s: string): string {
  let out = '';
  for (const part of s.match(/[^\n]{1,1000}\n?|\n/g) ?? []) out += `${kind} ${escapeText(part)}\n`;
  return out;
}

/** The outcome as the lines the front end reads (each ends in a newline). */
export function formatOutcome(o: CliOutcome): string {
  const lines: string[] = [];
  const chunks = (kind: 'stdout' | 'stderr', s: string) => {
    if (s !== '') lines.push(formatOutput(kind, s).slice(0, -1));
  };
  switch (o.kind) {
    case 'node':
      lines.push('node');
      break;
    case 'done':
      chunks('stdout', o.stdout);
      chunks('stderr', o.stderr);
      lines.push(`exit ${o.code}`);
      break;
    case 'exec':
      chunks('stderr', o.stderr);
      for (const [k, v] of Object.entries(o.env)) lines.push(`setenv ${escapeText(`${k}=${v}`)}`);
      for (const a of o.argv) lines.push(`argv ${escapeText(a)}`);
      lines.push('exec');
      break;
  }
  return lines.map((l) => l + '\n').join('');
}
