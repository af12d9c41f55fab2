import { writeSync } from 'node:fs';
import type { Writable } from 'node:stream';

/**
 * Writes chunks a transport lends (valid only during the call: the next read overwrites them)
 * into a child's stdin, copying as little as the pipe allows. While the stream has nothing
 * queued, the chunk goes straight into its descriptor with write(2): the kernel copies it, and
 * nothing is left for V8's collector — each lent chunk used to be copied into a new Buffer for
 * the stream to keep, ~100 MB of short-lived external memory per 100 MB pulled, which V8 frees
 * only when forced (it grew a pull's RSS past 90 MiB). The descriptor is non-blocking (libuv's):
 * when the pipe is full, write(2) takes part of the chunk or fails with EAGAIN, and only that
 * remainder is copied and queued on the stream, whose libuv side waits for room; the caller
 * waits for it to be written before the next chunk (back-pressure), so later chunks go direct
 * again. Writing behind the stream's back keeps the order because the stream has nothing queued
 * then, and libuv only writes what is queued.
 */
export interface LentWriter {
  /**
   * Write `chunk` (lent, or `owned`: the caller will not touch it again). Undefined: write on;
   * else a promise that resolves once the pipe has taken everything so far, or once `stop`
   * settled (the reader is gone: the caller asks why).
   */
  write(chunk: Buffer, owned?: boolean): Promise<void> | undefined;
  /** Bytes copied (a full pipe's remainders; every lent byte for a stream without a descriptor). */
  readonly copied: number;
}

/** The descriptor behind a pipe stream (net.Socket's handle), when there is one. */
export function descriptorOf(w: Writable): number | undefined {
  const fd = (w as unknown as { _handle?: { fd?: unknown } | null })._handle?.fd;
  return typeof fd === 'number' && fd >= 0 ? fd : undefined;
}

/** Reused copy buffers at most: one waits in the pipe, more only while a transport hands in several pieces at once. */
const POOL = 4;

/**
 * Copies go into reused buffers only for a descriptor's stream, whose write callback means the
 * kernel has the bytes; other streams may keep what they are given after calling back (a
 * PassThrough hands it on) and get fresh copies.
 */
export function lentWriter(stream: Writable, stop: Promise<unknown>): LentWriter {
  const fd = descriptorOf(stream);
  const reuse = fd !== undefined;
  let copied = 0;
  /** The reader is gone (`stop` settled), or write(2) failed otherwise than with EAGAIN (EPIPE). */
  let over = false;
  /** Resolvers of the queued writes, all resolved when the reader is gone (one listener on `stop`, not one per write). */
  const waiting = new Set<() => void>();
  const stopped = stop.then(() => undefined, () => undefined).then(() => {
    over = true;
    for (const w of [...waiting]) w();
  });
  /**
   * Where copies go: a few buffers, reused, since the caller waits until a copy is written
   * before it sends more — fresh Buffers would be garbage again, which V8 collects late.
   */
  const free: Buffer[] = [];
  let pooled = 0;

  /** A copy of `b`, and the pooled buffer to give back once it is written (none: a fresh copy). */
  const copyOf = (b: Buffer): { out: Buffer; back: Buffer | undefined } => {
    let buf = reuse ? free.pop() : undefined;
    if (reuse && !buf && pooled < POOL) {
      pooled++;
      buf = Buffer.allocUnsafeSlow(b.length);
    }
    if (!buf) return { out: Buffer.from(b), back: undefined };
    if (buf.length < b.length) buf = Buffer.allocUnsafeSlow(b.length);
    b.copy(buf);
    return { out: buf.subarray(0, b.length), back: buf };
  };

  /** Queue bytes on the stream (a copy unless owned); resolves once written, or once the reader is gone. */
  const queue = (b: Buffer, owned: boolean): Promise<void> => {
    let out = b;
    let back: Buffer | undefined;
    if (!owned) {
      copied += b.length;
      ({ out, back } = copyOf(b));
    }
    return new Promise<void>((res) => {
      const done = (): void => {
        if (!waiting.delete(done)) return;
        // Given back only when the stream called back: after `stop` the reader is gone, but
        // the stream may still hold the bytes.
        if (back && !over) free.push(back);
        res();
      };
      waiting.add(done);
      // The callback comes once the bytes are in the pipe, or with the error that lost them.
      stream.write(out, done);
    });
  };

  return {
    get copied() {
      return copied;
    },
    write(chunk, owned = false) {
      if (chunk.length === 0) return undefined;
      if (over || stream.destroyed || stream.writableEnded) return stopped;
      if (fd === undefined || stream.writableLength > 0) return queue(chunk, owned);
      let off = 0;
      try {
        while (off < chunk.length) off += writeSync(fd, chunk, off, chunk.length - off);
        return undefined;
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'EAGAIN') {
          // EPIPE and the like: the reader stopped (a refusal, a failed unpacker) and says why
          // in its own report; the caller waits for that.
          over = true;
          return stopped;
        }
      }
      return queue(chunk.subarray(off), owned);
    },
  };
}
