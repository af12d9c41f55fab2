import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { open } from 'node:fs/promises';
import type { Digest } from './types.js';
import type { Writable } from 'node:stream';

interface Drainable {
  once(ev: 'drain', fn: () => void): unknown;
  removeListener(ev: 'drain', fn: () => void): unknown;
}

/**
 * Wait until `w` wants more data, or until `stop` settles (the consumer died: a killed child
 * never emits 'drain', and waiting for it would hang the import).
 */
export function waitDrain(w: Drainable, stop: Promise<unknown>): Promise<void> {
  return new Promise<void>((res) => {
    const done = () => res();
    w.once('drain', done);
    const off = () => {
      w.removeListener('drain', done);
      res();
    };
    void stop.then(off, off);
  });
}

/**
 * Read a file once and feed every sink, honouring each one's back-pressure, so memory stays
 * flat however large the file is. Ends the sinks at EOF. `stop` aborts the copy early.
 */
export async function fanOutFile(
  file: string,
  sinks: Writable[],
  onChunk: (chunk: Buffer) => void,
  stop: { promise: Promise<unknown>; stopped: () => boolean },
): Promise<void> {
  const rs = createReadStream(file, { highWaterMark: 1 << 20 });
  try {
    for await (const chunk of rs as AsyncIterable<Buffer>) {
      if (stop.stopped()) return;
      onChunk(chunk);
      for (const w of sinks) {
        if (!w.write(chunk)) await waitDrain(w, stop.promise);
        if (stop.stopped()) return;
      }
    }
  } finally {
    rs.destroy();
  }
  for (const w of sinks) w.end();
}

/** Resolves when a file write stream has flushed and closed. */
export function finished(w: Writable): Promise<void> {
  return new Promise<void>((res, rej) => {
    if (w.closed) return res();
    if (w.errored) return rej(w.errored);
    w.once('close', () => (w.errored ? rej(w.errored) : res()));
  });
}

/**
 * The sha256 digest of a file, read once through two reused buffers (no garbage per chunk): the
 * next piece is read while this one is hashed, which takes a fifth off a large file's time (a
 * layer blob is hashed beside its unpacking: bench/image-import.js). `onChunk` sees each piece
 * (valid only during the call). `signal` stops the read between pieces (it rejects with the
 * signal's reason): a caller whose other reader of the file failed does not wait for the rest of
 * a multi-GB file to be hashed for nothing.
 */
export async function readFileThrough(file: string, opts: { onChunk?: (chunk: Buffer) => void; signal?: AbortSignal } = {}): Promise<Digest> {
  const h = createHash('sha256');
  const fh = await open(file, 'r');
  const bufs = [Buffer.allocUnsafe(1 << 20), Buffer.allocUnsafe(1 << 20)];
  let next: Promise<{ bytesRead: number }> | undefined;
  try {
    let i = 0;
    next = fh.read(bufs[0]!, 0, bufs[0]!.length, null);
    for (;;) {
      opts.signal?.throwIfAborted();
      const { bytesRead } = await next;
      next = undefined;
      if (bytesRead === 0) break;
      const chunk = bufs[i]!.subarray(0, bytesRead);
      i ^= 1;
      next = fh.read(bufs[i]!, 0, bufs[i]!.length, null);
      h.update(chunk);
      opts.onChunk?.(chunk);
    }
  } finally {
    // The handle is closed once no read into the buffers is in flight.
    await next?.catch(() => undefined);
    await fh.close();
  }
  return `sha256:${h.digest('hex')}`;
}
