import type { Readable } from 'node:stream';
import { createRequire } from 'node:module';
import type tarStream from 'tar-stream';

/**
 * tar-stream, loaded on first use (from node_modules, also by the bundle: scripts/bundle.mjs keeps
 * it external): only commands that rewrite or write a tar stream (ACI, ISO and layered imports
 * with whiteouts, export, build) pay its ~10 ms; a static import would load it on every start.
 */
let lib: typeof tarStream | undefined;
export function tarStreamLib(): typeof tarStream {
  lib ??= createRequire(import.meta.url)('tar-stream') as typeof tarStream;
  return lib;
}

/**
 * Rewrite a tar stream entry by entry (rename, fix headers, drop entries), streaming: the ACI
 * importer strips "rootfs/", the ISO importer repairs device numbers. `skip` receives the
 * dropped entries' data streams (the ACI manifest is read there) and must consume them.
 */
/** A header to write: tar-stream fills defaults for the fields left out. */
export type OutHeader = Partial<tarStream.Header> & Pick<tarStream.Header, 'name'>;

export function retar(
  input: Readable,
  map: (h: tarStream.Header) => OutHeader | OutHeader[] | null,
  skip: (h: tarStream.Header, data: Readable, next: () => void) => void = (_h, data, next) => {
    data.on('end', next);
    data.resume();
  },
): { output: Readable; done: Promise<void> } {
  const outer = tarStreamLib().extract();
  const pack = tarStreamLib().pack();
  outer.on('entry', (h, stream, next) => {
    stream.on('error', () => undefined);
    const result = map(h);
    if (!result || (Array.isArray(result) && result.length === 0)) return skip(h, stream as unknown as Readable, next);
    // Extra headers (an opaque marker after its directory) carry no data.
    const [mapped, ...extra] = Array.isArray(result) ? result : [result];
    if (mapped!.pax) {
      // The new name wins over the old pax path (and linkpath, which map() rewrote).
      // Device numbers go in the header fields map() may have repaired, not in pax.
      const { path: _p, linkpath: _l, 'SCHILY.devmajor': _ma, 'SCHILY.devminor': _mi, ...pax } = mapped!.pax as Record<string, string>;
      mapped!.pax = pax;
    }
    const entry = pack.entry(mapped!, (err) => {
      if (err) return outer.destroy(err);
      for (const x of extra) {
        if ((x.type ?? 'file') === 'file') pack.entry(x, Buffer.alloc(0));
        else pack.entry(x);
      }
      next();
    });
    const isFile = (t: string | null | undefined) => t === 'file' || t === 'contiguous-file';
    if (isFile(h.type) && (h.size ?? 0) > 0 && isFile(mapped!.type ?? 'file') && (mapped!.size ?? 0) > 0) {
      stream.pipe(entry);
      return;
    }
    stream.resume();
    // A file entry without data (an empty file, a whiteout made from a device) must be ended.
    if (isFile(mapped!.type ?? 'file')) stream.on('end', () => entry.end(undefined as unknown as Buffer));
  });
  const done = new Promise<void>((res, rej) => {
    outer.on('finish', () => {
      pack.finalize();
      res();
    });
    outer.on('error', (e: Error) => {
      pack.destroy(e);
      rej(e);
    });
  });
  done.catch(() => undefined);
  input.pipe(outer as unknown as NodeJS.WritableStream);
  return { output: pack as unknown as Readable, done };
}
