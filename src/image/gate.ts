import { join } from 'node:path';
import type { Readable, Writable } from 'node:stream';
import { config, host, stderrOf, type SpawnOptions, type SpawnedProcess, type StderrTail, VesselError } from '../util/index.js';
import type { Decompressible } from './tar-forms.js';
import type { Digest } from './types.js';
import type { EntryHeader, Verdict } from './validate.js';

/**
 * The native tar gate (native/gate, `vessel-tar-gate`) and its judge. The gate reads the tar
 * stream (or starts the decompressor on it), hashes it, walks its headers and forwards the bytes
 * to the unpacker — all outside JavaScript; for every entry it asks here first, and this side
 * answers with the EntryChecker's verdict: the safety policy is validate.ts's, in TypeScript,
 * and nothing else. The protocol is native/gate/judge.h's (one line per entry up, one byte per
 * entry down up to a refusal, an "end" line last; then this side closes, and the gate exits).
 */

/** A tar entry as the judge sees it: the EntryHeader, what it unpacks to, and its sparse map. */
export interface TarEntry extends EntryHeader {
  realSize: number;
}

/** How one of the gate's children ended: "ok", "exit:N", "signal:N", or "-" (never ran). */
export type ChildOutcome = string;

export interface GateReport {
  /** The entry the judge refused, and why. */
  refused?: { name: string; why: string };
  /** The stream is not one tar programs agree on: mid-stream (`atEnd` false) or at its end. */
  bad?: { name: string | undefined; why: string; atEnd: boolean };
  /** The gate itself failed (a read error, a fork). */
  fail?: string;
  /** The name of the last entry judged (for "after entry …"). */
  lastEntry?: string;
  /** The stream was read to its end (not stopped early: a refusal, a failed unpacker, stop()). */
  readAll: boolean;
  /** The stream's digest (when hashed and read to its end) and length. */
  diffId?: Digest;
  bytes: number;
  /** With `blobDigest`, once the stream ended whole: the input file's length and digest. */
  blob?: { bytes: number; digest: Digest };
  unpacker: ChildOutcome;
  decompressor: ChildOutcome;
  /** What the unpacker and the decompressor said on stderr. */
  unpackerSaid: StderrTail;
  decompressorSaid: StderrTail | undefined;
}

export interface GateOptions {
  /**
   * The stream: a file (or pipe) descriptor the gate reads, 'pipe' to write it in, or a file
   * the caller is still writing, which the gate follows as it grows (`follow`: its descriptor,
   * read from offset 0; Gate.notify says when it grew and when it is complete).
   */
  input: number | 'pipe' | { follow: number };
  /** A decompressor the gate starts on its input (the tool's argv from tar-forms.ts). */
  decompress?: { kind: Decompressible; argv: string[] };
  /** The unpacker's argv (tar-forms.ts extract). */
  unpack: string[];
  /** Hash the stream (the diff id); false when the caller knows it. */
  hash: boolean;
  /**
   * Hash the input file too (a regular file a decompressor reads: the compressed blob's digest),
   * beside the stream (native/gate/blob.h).
   */
  blobDigest?: boolean;
  judge: (entry: TarEntry) => Verdict;
  /**
   * Bytes of the stream read so far, every few MiB, and of the input file when a decompressor
   * reads one (how far it has read).
   */
  onRead?: (bytes: number, input: number | undefined) => void;
  /** Read at most this many bytes at a time (default 1 MiB): tests split headers across reads. */
  maxRead?: number;
}

export interface Gate {
  /** Where to write the stream when `input` is 'pipe'. */
  stdin: Writable | undefined;
  /**
   * When following a file: the gate's fd 5. Any bytes written say "the file grew"; its end
   * says "the file is complete" (native/gate/follow.h).
   */
  notify: Writable | undefined;
  /** Settles once the gate has exited: its children have exited before it. */
  report: Promise<GateReport>;
  /** Stop now (the gate kills its children, waits for them, and reports). */
  stop(): void;
}

/**
 * The gate runs where vessel runs, beside vessel-init in libexec. VESSEL_TAR_GATE names another
 * one: a test seam (as VESSEL_OS), for the FreeBSD transcript tests, whose libexec is the FreeBSD
 * host's path in every golden while their imports run here.
 */
export function gatePath(): string {
  return process.env.VESSEL_TAR_GATE || join(config().libexec, 'vessel-tar-gate');
}

/** A byte string of the protocol: ":" then the bytes, %XX-escaped. Bytes come back one char each (latin1). */
function unescape(field: string | undefined): string {
  if (field === undefined || !field.startsWith(':')) throw new Error(`malformed gate line field ${JSON.stringify(field)}`);
  return field.slice(1).replace(/%([0-9A-F]{2})/g, (_, h: string) => String.fromCharCode(parseInt(h, 16)));
}

const VERDICT = { accept: 'a', placeholder: 'p', refuse: 'r' } as const;

export function startGate(opts: GateOptions): Gate {
  const follow = typeof opts.input === 'object' ? opts.input.follow : undefined;
  const argv = [gatePath(), ...(opts.hash ? [] : ['--no-hash']), ...(opts.maxRead ? ['--max-read', String(opts.maxRead)] : []), ...(follow === undefined ? [] : ['--follow'])];
  if (opts.blobDigest) argv.push('--blob-digest');
  if (opts.decompress) argv.push('--decompress', String(opts.decompress.argv.length), ...opts.decompress.argv);
  argv.push('--unpack', String(opts.unpack.length), ...opts.unpack);
  const stdio: NonNullable<SpawnOptions['stdio']> = [follow ?? (opts.input as number | 'pipe'), 'ignore', 'pipe', 'pipe', opts.decompress ? 'pipe' : 'ignore'];
  if (follow !== undefined) stdio.push('pipe');
  const child: SpawnedProcess = host().spawn(argv, { stdio });
  const unpackerSaid = stderrOf(child);
  const decompressorSaid = opts.decompress ? stderrOf(child, 4) : undefined;
  const control = child.pipes[3] as unknown as Readable & Writable;
  const stdin = opts.input === 'pipe' ? (child.pipes[0] as Writable) : undefined;
  // The gate may stop reading (a refusal) while the stream is still being written: EPIPE here
  // is expected, and the report says why.
  stdin?.on('error', () => undefined);
  const notify = follow === undefined ? undefined : (child.pipes[5] as Writable);
  notify?.on('error', () => undefined);
  control.on('error', () => undefined);

  const r: Omit<GateReport, 'unpackerSaid' | 'decompressorSaid'> = { readAll: false, bytes: 0, unpacker: '-', decompressor: '-' };
  let ended = false;
  let refusing = false;
  let partial = '';
  const onLine = (line: string): string => {
    const f = line.split(' ');
    switch (f[0]) {
      case 'e': {
        // The gate reads no answer after a refusal (judge.h), so none is sent: a write it never
        // reads could only fail (a gate gone: EPIPE), and Node destroys a socket whose write
        // failed, the unread rest of the report with it.
        if (refusing) return '';
        const sparse = f[4];
        const rest = sparse === '!' ? f.slice(6) : f.slice(5);
        const entry: TarEntry = {
          type: f[1] === '?' ? null : f[1]!,
          size: Number(f[2]),
          realSize: Number(f[3]),
          name: unescape(rest[0]),
          linkname: unescape(rest[1]),
          ...(sparse === '!' ? { sparseProblem: unescape(f[5]) } : {}),
        };
        r.lastEntry = entry.name;
        const v = opts.judge(entry);
        if (v === undefined) return VERDICT.accept;
        if (v === 'placeholder') return VERDICT.placeholder;
        refusing = true;
        r.refused = { name: entry.name, why: v.refuse };
        return VERDICT.refuse;
      }
      case 'bad':
      case 'short': {
        const name = unescape(f[1]);
        r.bad = { name: name === '' ? undefined : name, why: unescape(f[2]), atEnd: f[0] === 'short' };
        return '';
      }
      case 'fail':
        r.fail = unescape(f[1]);
        return '';
      case 'p':
        opts.onRead?.(Number(f[1]), f[2] === undefined || f[2] === '-' ? undefined : Number(f[2]));
        return '';
      case 'blob':
        r.blob = { bytes: Number(f[1]), digest: `sha256:${f[2]!}` };
        return '';
      case 'end':
        ended = true;
        r.readAll = f[1] === 'all';
        if (f[2] !== '-') r.diffId = `sha256:${f[2]!}`;
        r.bytes = Number(f[3]);
        r.unpacker = f[4]!;
        r.decompressor = f[5]!;
        return '';
      default:
        throw new Error(`unknown gate line ${JSON.stringify(line.slice(0, 40))}`);
    }
  };
  let protocolError: unknown;
  control.setEncoding('latin1');
  control.on('data', (text: string) => {
    const data = partial + text;
    let answers = '';
    let from = 0;
    let nl: number;
    while ((nl = data.indexOf('\n', from)) >= 0) {
      try {
        answers += onLine(data.slice(from, nl));
      } catch (e) {
        // A judge that cannot read the gate must not let it go on: stop it.
        protocolError ??= e;
        child.kill('SIGTERM');
      }
      from = nl + 1;
    }
    partial = data.slice(from);
    if (answers) control.write(answers);
    // The gate waits, after its report, until this side is closed (judge.h): it reads the
    // answers still on their way until then, so none of them meets a closed socket.
    if (ended) control.end();
  });
  const closed = new Promise<void>((res) => { control.once('close', res); control.once('end', res); });

  const report = (async (): Promise<GateReport> => {
    let exit: { code: number | null; signal: NodeJS.Signals | null };
    try {
      exit = await child.exited;
    } catch (e) {
      throw new VesselError('E_HOST', `${(e as Error).message} (the tar gate; build it: npm run build, or set VESSEL_LIBEXEC)`);
    }
    await closed;
    if (protocolError !== undefined) throw new VesselError('E_HOST', `vessel-tar-gate: ${(protocolError as Error).message}`);
    const why = exit.signal ? `killed by ${exit.signal}` : `exit ${exit.code}`;
    if (!ended) {
      await unpackerSaid.done();
      throw new VesselError('E_HOST', `vessel-tar-gate stopped without its report (${why})${unpackerSaid.last(1) ? `: ${unpackerSaid.last(1)}` : ''}`);
    }
    // The gate exits 0 once it has written its report, whatever the verdict; anything else after
    // it (a crash while releasing, a sanitizer's report at exit) is the gate's own fault, and must
    // not pass for a clean extraction.
    if (exit.code !== 0) {
      await unpackerSaid.done();
      throw new VesselError('E_HOST', `vessel-tar-gate failed after its report (${why})`);
    }
    return { ...r, unpackerSaid, decompressorSaid };
  })();
  report.catch(() => undefined);
  return { stdin, notify, report, stop: () => child.kill('SIGTERM') };
}
