import { closeSync, openSync, writeSync } from 'node:fs';
import { constants } from 'node:os';
import type { Readable, Writable } from 'node:stream';
import { VesselError, errorMessage } from '../util/index.js';
import { onlyTrailingGarbage, toolComplaint, type Compression } from './compression.js';
import { startGate, type ChildOutcome, type Gate, type GateReport } from './gate.js';
import { waitDrain } from './streams.js';
import { printableName, printableText } from './tar-headers.js';
import { tarForms } from './tar-forms.js';
import { EntryChecker, defaultLimits, type ExternalLink, type ExtractLimits } from './validate.js';
import type { Digest } from './types.js';

/**
 * Safe, streamed unpacking of one tar stream into a staging directory, in one pass, through the
 * native gate (gate.ts): it hashes the stream (the layer's diff id) and walks its headers, and
 * the EntryChecker judges every entry *before* the gate hands its bytes to the host's tar (the
 * writer): tar never receives the header of a refused entry, nor anything after it. The bytes
 * themselves never pass through JavaScript when the stream is a file or a native decompressor's
 * output. The caller commits the directory only after this resolves, i.e. after every byte was
 * read, every entry accepted and tar exited 0; on any failure it rejects with one E_ARCHIVE line
 * naming the entry (escaped: never raw bytes), after tar has exited, so nothing writes into
 * staging any more.
 */
export interface ExtractOptions {
  /** What the user knows the stream as (file name, blob digest), for messages. */
  source: string;
  limits?: Partial<ExtractLimits>;
  /** Settles when the producer of `tar` has finished; its rejection explains a short stream. */
  upstream?: Promise<void>;
  /**
   * The stream is a layer above others (OCI layers are diffs): a hard link to a file it does not
   * hold is unpacked as a placeholder and listed in the result, for linkLowerFiles() to fill in.
   * Otherwise such a link is refused.
   */
  externalLinks?: boolean;
  /**
   * The diff id is known without hashing again (an uncompressed blob, whose digest the caller
   * checks): asked once the stream has ended.
   */
  knownDiffId?: () => Digest;
  /**
   * Bytes of the tar stream read so far, now and then (a progress bar's), and of the input file
   * when a decompressor reads one.
   */
  onRead?: (bytes: number, input: number | undefined) => void;
  /** Hash the input file too: the compressed blob's digest (GateOptions.blobDigest). */
  blobDigest?: boolean;
  /** Stops the extraction (its caller went away): it rejects with the signal's reason. */
  signal?: AbortSignal;
  /**
   * Sees each entry's name before it is judged; an error returned stops the extraction at that
   * entry (nothing of it reaches tar) and is what the extraction rejects with. image/import.ts
   * tells a root filesystem from an OCI or appc archive by its first names this way, without a
   * second decompression.
   */
  stopAt?: (name: string) => Error | undefined;
}

export interface ExtractResult {
  diffId: Digest;
  /** Bytes of the tar stream. */
  streamBytes: number;
  entries: number;
  /** Bytes of file content. */
  bytes: number;
  /** With ExtractOptions.blobDigest: the input file's length and digest. */
  blob?: { bytes: number; digest: Digest };
  whiteouts: string[];
  opaqueDirs: string[];
  externalLinks: ExternalLink[];
}

const isRoot = () => typeof process.getuid === 'function' && process.getuid() === 0;

/** How a child of the gate ended, in words ("exit 2", "killed by SIGKILL"). */
function outcomeText(o: ChildOutcome): string {
  const [what, n] = o.split(':');
  if (what === 'signal') {
    const name = Object.entries(constants.signals).find(([, v]) => v === Number(n))?.[0];
    return `killed by ${name ?? `signal ${n}`}`;
  }
  return what === 'exit' ? `exit ${n}` : o;
}

/** One extraction: the gate, its judge, and the messages its report turns into. */
function extraction(input: number | 'pipe' | { follow: number }, kind: Compression, dest: string, opts: ExtractOptions): { gate: Gate; result: (readError?: unknown) => Promise<ExtractResult> } {
  opts.signal?.throwIfAborted();
  const root = isRoot();
  const checker = new EntryChecker({ ...defaultLimits(), ...opts.limits }, { allowDevices: root, externalLinks: opts.externalLinks ?? false });
  const forms = tarForms();
  let stoppedBy: Error | undefined;
  const gate = startGate({
    input,
    // Every compressed format is undone by its tool, which the gate starts on its own input.
    ...(kind !== 'none' ? { decompress: { kind, argv: forms.decompress(kind) } } : {}),
    unpack: forms.extract(dest, root),
    hash: opts.knownDiffId === undefined,
    judge: (entry) => {
      stoppedBy = opts.stopAt?.(entry.name);
      return stoppedBy ? { refuse: stoppedBy.message } : checker.check(entry);
    },
    ...(opts.onRead ? { onRead: opts.onRead } : {}),
    ...(opts.blobDigest ? { blobDigest: true } : {}),
  });
  const stop = (): void => gate.stop();
  opts.signal?.addEventListener('abort', stop, { once: true });
  const result = async (readError?: unknown): Promise<ExtractResult> => {
    let r: GateReport;
    try {
      r = await gate.report;
    } finally {
      opts.signal?.removeEventListener('abort', stop);
    }
    // Stopped for its caller: that is the reason, whatever the gate saw.
    opts.signal?.throwIfAborted();
    if (stoppedBy) throw stoppedBy;
    const where = r.lastEntry === undefined ? '' : ` (after entry "${printableName(r.lastEntry)}")`;
    const fail = (msg: string) => new VesselError('E_ARCHIVE', `${opts.source}: ${msg}`);
    const notTar = (bad: NonNullable<GateReport['bad']>) =>
      fail(`not a valid tar stream: ${bad.name === undefined ? '' : `entry "${printableName(bad.name)}": `}${bad.why}${where}`);
    if (r.refused) throw fail(`entry "${printableName(r.refused.name)}": ${r.refused.why}`);
    if (r.bad && !r.bad.atEnd) throw notTar(r.bad);
    if (r.fail !== undefined) throw fail(`truncated or corrupt: ${printableText(r.fail)}${where}`);
    if (r.readAll) {
      // What stopped the stream short explains a short stream best: the producer's failure.
      let upstream: unknown = opts.upstream ? await opts.upstream.then(() => undefined, (e: unknown) => e ?? new Error('failed')) : undefined;
      upstream ??= readError;
      if (upstream === undefined && r.decompressor !== 'ok' && r.decompressor !== '-' && kind !== 'none') {
        await r.decompressorSaid?.done();
        const garbageOnly = r.decompressor.startsWith('exit:') && r.decompressorSaid !== undefined && onlyTrailingGarbage(kind, r.decompressorSaid);
        if (!garbageOnly) upstream = r.decompressorSaid ? toolComplaint(kind, r.decompressorSaid, outcomeText(r.decompressor)) : new Error(outcomeText(r.decompressor));
      }
      if (upstream !== undefined) throw fail(`truncated or corrupt: ${errorMessage(upstream)}${where}`);
      if (r.bad) throw notTar(r.bad);
    }
    // Stopped from here (stop(): a pull abandoned): the gate killed tar itself.
    if (!r.readAll && r.unpacker === `signal:${constants.signals.SIGKILL}`) throw fail(`stopped before the end of the stream${where}`);
    if (r.unpacker !== 'ok') {
      // The last words that say why, not GNU tar's "Exiting with failure" or bsdtar's "Error exit delayed".
      await r.unpackerSaid.done();
      const why = r.unpackerSaid.lines(4).filter((l) => !/^(bsd)?tar: (Exiting with failure|Error exit delayed)/.test(l)).slice(-2).join(' | ');
      throw fail(`tar could not unpack it: ${printableText(why) || outcomeText(r.unpacker)}`);
    }
    // The gate reports the input's digest once the stream ended whole: after a stream read whole
    // and unpacked, only a stop (its caller went away) leaves it out.
    if (opts.blobDigest && !r.blob) throw fail('stopped before the file was hashed');
    return {
      diffId: r.diffId ?? opts.knownDiffId!(),
      streamBytes: r.bytes,
      ...(r.blob ? { blob: r.blob } : {}),
      entries: checker.entries,
      bytes: checker.bytes,
      whiteouts: checker.whiteouts,
      opaqueDirs: checker.opaqueDirs,
      externalLinks: checker.externalLinks,
    };
  };
  return { gate, result };
}

/**
 * Unpack a tar stream produced in this process (a decompressor's output, a rewritten archive):
 * its chunks are written into the gate as they come, honouring its back-pressure.
 */
export async function extractTarStream(tar: Readable, dest: string, opts: ExtractOptions): Promise<ExtractResult> {
  // Read only on the success path; on an early failure nobody awaits it.
  opts.upstream?.catch(() => undefined);
  const { gate, result } = extraction('pipe', 'none', dest, opts);
  const stdin = gate.stdin!;
  const exited = gate.report.then(() => undefined, () => undefined);
  let readError: unknown;
  const pumped = new Promise<void>((resolve) => {
    let settled = false;
    const done = () => {
      if (settled) return;
      settled = true;
      tar.removeListener('data', onData);
      stdin.end();
      resolve();
    };
    const onData = (chunk: Buffer) => {
      if (stdin.write(chunk)) return;
      tar.pause();
      void waitDrain(stdin, exited).then(() => { if (!settled) tar.resume(); });
    };
    tar.on('data', onData);
    tar.once('end', done);
    tar.once('error', (e) => { readError ??= e; done(); });
    tar.once('close', () => {
      if (!settled && !tar.readableEnded) readError ??= new Error('the stream stopped early');
      done();
    });
    // The gate stopped before the stream ended (a refusal): stop its producer too (a
    // decompressor blocked on a full pipe would never exit).
    void exited.then(() => {
      if (settled) return;
      done();
      tar.destroy();
    });
  });
  try {
    return await result(await pumped.then(() => readError));
  } catch (e) {
    tar.destroy();
    throw e;
  }
}

/**
 * Unpack a tar file, plain or compressed: the gate reads it itself (its decompressor reads it for
 * the gate), so no byte of it passes through JavaScript. The gate is running when this returns:
 * the file is opened synchronously, not through libuv's thread pool, where the open waited
 * behind whatever the caller had queued there (seen: 5 ms behind the blob's copy, the gate and
 * so the whole pipeline starting that much later).
 */
export function extractTarFile(file: string, kind: Compression, dest: string, opts: ExtractOptions): Promise<ExtractResult> {
  let started: ReturnType<typeof extraction>;
  try {
    const fd = openSync(file, 'r');
    try {
      started = extraction(fd, kind, dest, opts);
    } finally {
      // The gate (and its decompressor) have their own copy of the descriptor once started.
      closeSync(fd);
    }
  } catch (e) {
    return Promise.reject(e);
  }
  return started.result();
}

/** The descriptor behind a pipe stream (net.Socket's handle), when there is one: written to directly, without a copy. */
function descriptorOf(w: Writable): number | undefined {
  const fd = (w as unknown as { _handle?: { fd?: unknown } | null })._handle?.fd;
  return typeof fd === 'number' && fd >= 0 ? fd : undefined;
}

/** A file unpacked as its writer appends to it (extractTarFollow). */
export interface FollowFeed {
  /** The file grew by `bytes` (already written to it). Cheap: the gate hears of it now and then. */
  grew(bytes: number): void;
  /** The file is complete: the gate reads it to its end. */
  end(): void;
  result: Promise<ExtractResult>;
  abort(): void;
}

/**
 * How much the file grows between two wakeups of the gate's follower: each is a syscall here and
 * a context switch there, and it reads all there is when it wakes. Small against the pipes it
 * fills (1 MiB), so the unpacker is never starved for it.
 */
const NOTIFY_EVERY = 256 * 1024;
const WAKE = Buffer.from([1]);

/**
 * Unpack a file (plain or compressed) while the caller is still writing it (registry
 * pulls write each chunk to the blob's file anyway): the gate's follower reads it from offset 0
 * as it grows (on Linux, splice: no copy), so the bytes are not written a second time, into a
 * pipe, from this thread. `file` is opened here; the gate keeps its own descriptor, so the file
 * may be renamed meanwhile. There is no back-pressure: the file holds what the unpacker has not
 * read yet.
 */
export function extractTarFollow(file: string, kind: Compression, dest: string, opts: ExtractOptions): FollowFeed {
  const fd = openSync(file, 'r');
  let started: ReturnType<typeof extraction>;
  try {
    started = extraction({ follow: fd }, kind, dest, opts);
  } finally {
    // The gate has its own copy once started.
    closeSync(fd);
  }
  const { gate, result } = started;
  const settled = result();
  settled.catch(() => undefined);
  const notify = gate.notify!;
  const channel = descriptorOf(notify);
  let unsaid = 0;
  const wake = (): void => {
    unsaid = 0;
    if (notify.destroyed || notify.writableEnded) return;
    if (channel === undefined) {
      notify.write(WAKE);
      return;
    }
    try {
      writeSync(channel, WAKE);
    } catch {
      // EAGAIN: the channel is full of wakeups the follower has yet to read, so it will read
      // on. EPIPE: the gate is gone, and its report says why.
    }
  };
  return {
    grew: (bytes) => {
      unsaid += bytes;
      if (unsaid >= NOTIFY_EVERY) wake();
    },
    end: () => {
      if (unsaid > 0) wake();
      notify.end();
    },
    result: settled,
    abort: () => gate.stop(),
  };
}
