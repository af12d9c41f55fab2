import { open } from 'node:fs/promises';
import { PassThrough, type Readable, type Writable } from 'node:stream';
import { host, stderrOf, VesselError, type SpawnedProcess, type StderrTail } from '../util/index.js';
import { tarForms } from './tar-forms.js';
import { fanOutFile } from './streams.js';

/**
 * Compression of archives and layer blobs, recognised by magic bytes (a .tar.gz that is really
 * xz still imports). Every format is undone by its command-line tool (tar-forms.ts decompress),
 * in a process of its own, never on Node's thread: Node 20 has no zstd and no xz, and for gzip
 * igzip is 2–3× faster than Node's zlib (whose output was also ~2 Buffers of garbage per byte).
 */
export type Compression = 'none' | 'gzip' | 'xz' | 'zstd' | 'bzip2';

export function detectCompression(head: Uint8Array): Compression {
  const b = (i: number) => head[i] ?? -1;
  if (b(0) === 0x1f && b(1) === 0x8b) return 'gzip';
  if (b(0) === 0xfd && b(1) === 0x37 && b(2) === 0x7a && b(3) === 0x58 && b(4) === 0x5a && b(5) === 0x00) return 'xz';
  if (b(0) === 0x28 && b(1) === 0xb5 && b(2) === 0x2f && b(3) === 0xfd) return 'zstd';
  if (b(0) === 0x42 && b(1) === 0x5a && b(2) === 0x68) return 'bzip2';
  return 'none';
}

/** The first `n` bytes of a file (fewer when it is shorter). */
export async function readHead(file: string, n = 512): Promise<Buffer> {
  const fh = await open(file, 'r');
  try {
    const buf = Buffer.alloc(n);
    const { bytesRead } = await fh.read(buf, 0, n, 0);
    return buf.subarray(0, bytesRead);
  } finally {
    await fh.close();
  }
}

/**
 * A decompressor as a pair of streams: write compressed bytes into `input`, read plain bytes
 * from `output`. `done` settles when it has finished; it rejects (naming the tool and its
 * complaint) on corrupt or truncated data. `abort` stops it at once.
 */
export interface Decompressor {
  input: Writable;
  output: Readable;
  done: Promise<void>;
  abort(): void;
}

export function decompressor(kind: Compression): Decompressor {
  if (kind === 'none') {
    const p = new PassThrough({ highWaterMark: 1 << 20 });
    return { input: p, output: p, done: Promise.resolve(), abort: () => p.destroy() };
  }
  const child = host().spawn(tarForms().decompress(kind), { stdio: ['pipe', 'pipe', 'pipe'] });
  const input = child.pipes[0] as Writable;
  // The tool may exit (corrupt data) while we are still writing: EPIPE is reported by `done`.
  input.on('error', () => undefined);
  return { input, ...toolOutput(kind, child) };
}

/**
 * A decompressing tool's failure in one line, "zstd: <what it said>" (without the tool's own
 * "(stdin): " prefixes), or the fallback (how it ended) when it said nothing.
 */
export function toolComplaint(kind: Exclude<Compression, 'none'>, said: StderrTail, fallback: string): VesselError {
  const why = said.last(1) || fallback;
  return new VesselError('E_ARCHIVE', `${kind}: ${IGZIP_SAYS.find(([re]) => re.test(why))?.[1] ?? why.replace(/^\S+: \(?stdin\)?: /, '').replace(/^zstd: \/\*stdin\*\\: /, '')}`);
}

/**
 * Whether a decompressing tool that exited non-zero (the caller checks it was not killed) failed
 * only over bytes after the last gzip member (a signature or padding appended to a .tar.gz).
 * gzip checks every member's CRC and length, and writes all of them, before it says so: GNU gzip "decompression OK, trailing garbage ignored" (exit 2),
 * FreeBSD's "(stdin): trailing garbage ignored" (usr.bin/gzip/gzip.c gz_uncompress, exit 1).
 * igzip — Linux's tool where installed — and bsdtar ignore such bytes without a word, so they
 * are accepted on every path: a file imports alike on Linux and on FreeBSD. A pulled blob's digest
 * covers every byte either way.
 */
export function onlyTrailingGarbage(kind: Exclude<Compression, 'none'>, said: StderrTail): boolean {
  return kind === 'gzip' && /trailing garbage ignored$/.test(said.last(1));
}

/**
 * igzip's complaints (it names no file when it reads stdin: "(null)") in gzip's words, so a
 * broken .tar.gz reads the same whichever tool undid it (igzip_cli.c's messages).
 */
const IGZIP_SAYS: Array<[RegExp, string]> = [
  [/^igzip: Error .* does not contain a complete gzip file/, 'unexpected end of file'],
  [/^igzip: Error invalid gzip header/, 'not in gzip format'],
  [/^igzip: Error encountered while decompressing/, 'invalid compressed data'],
];

/** stdout and the outcome of a decompressing tool, its complaint (if any) as the error. */
function toolOutput(kind: Exclude<Compression, 'none'>, child: SpawnedProcess): Omit<Decompressor, 'input'> {
  const output = child.pipes[1] as Readable;
  const stderr = stderrOf(child);
  const done = child.exited.then(async ({ code, signal }) => {
    if (code === 0) return;
    await stderr.done();
    if (signal === null && onlyTrailingGarbage(kind, stderr)) return;
    throw toolComplaint(kind, stderr, signal ? `killed by ${signal}` : `exit ${code}`);
  });
  done.catch(() => undefined);
  return { output, done, abort: () => child.kill('SIGKILL') };
}

/**
 * A file decompressed: the one way vessel decompresses a file. By default its tool reads the
 * file itself (as its stdin): the compressed bytes never pass through JavaScript, and the tool
 * runs beside the unpacking. With `onProgress` (or a plain file), JavaScript reads the file into
 * the decompressor instead, honouring its back-pressure, so progress follows what it consumed.
 * The caller must start reading `output` before it awaits anything: Node discards the unread
 * output of a child that has exited (child_process's flushStdio resumes it), and a small layer's
 * decompressor exits within a millisecond.
 */
export async function decompressFile(kind: Compression, file: string, opts: { onProgress?: (done: number) => void } = {}): Promise<Omit<Decompressor, 'input'>> {
  if (kind === 'none' || opts.onProgress !== undefined) return pumpFile(kind, file, opts.onProgress ?? (() => undefined));
  const fh = await open(file, 'r');
  const tool = toolOutput(kind, host().spawn(tarForms().decompress(kind), { stdio: [fh.fd, 'pipe', 'pipe'] }));
  // The child has its own copy of the descriptor; not awaited, for the reason above.
  void fh.close().catch(() => undefined);
  return tool;
}

function pumpFile(kind: Compression, file: string, onProgress: (done: number) => void): Omit<Decompressor, 'input'> {
  const dec = decompressor(kind);
  let stopped = false;
  let stopNow!: () => void;
  const stop = new Promise<void>((res) => { stopNow = res; });
  let read = 0;
  const pump = fanOutFile(file, [dec.input], (c) => onProgress((read += c.length)), {
    promise: Promise.race([stop, dec.done.catch(() => undefined)]),
    stopped: () => stopped,
  });
  const done = Promise.all([pump, dec.done]).then(() => undefined);
  done.catch(() => undefined);
  return {
    output: dec.output,
    done,
    abort: () => {
      stopped = true;
      stopNow();
      dec.abort();
    },
  };
}

/** File-name suffixes vessel prints for each compression (export names, messages). */
export const SUFFIX: Record<Compression, string> = { none: '.tar', gzip: '.tar.gz', xz: '.tar.xz', zstd: '.tar.zst', bzip2: '.tar.bz2' };
