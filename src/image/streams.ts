import { createReadStream } from 'node:fs';
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
