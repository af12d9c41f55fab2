import type { Readable } from 'node:stream';
import tarStream from 'tar-stream';

/**
 * Rewrite a tar stream entry by entry (rename, fix headers, drop entries), streaming: the ACI
 * importer strips "rootfs/", the ISO importer repairs device numbers. `skip` receives the
 * dropped entries' data streams (the ACI manifest is read there) and must consume them.
 */
export function retar(
  input: Readable,
  map: (h: tarStream.Header) => tarStream.Header | null,
  skip: (h: tarStream.Header, data: Readable, next: () => void) => void = (_h, data, next) => {
    data.on('end', next);
    data.resume();
  },
): { output: Readable; done: Promise<void> } {
  const outer = tarStream.extract();
  const pack = tarStream.pack();
  outer.on('entry', (h, stream, next) => {
    stream.on('error', () => undefined);
    const mapped = map(h);
    if (!mapped) return skip(h, stream as unknown as Readable, next);
    if (h.pax) {
      // The new name wins over the old pax path (and linkpath, which map() rewrote).
      // Device numbers go in the header fields map() may have repaired, not in pax.
      const { path: _p, linkpath: _l, 'SCHILY.devmajor': _ma, 'SCHILY.devminor': _mi, ...pax } = h.pax as Record<string, string>;
      mapped.pax = pax;
    }
    const entry = pack.entry(mapped, (err) => (err ? outer.destroy(err) : next()));
    const hasData = (h.type === 'file' || h.type === 'contiguous-file') && (h.size ?? 0) > 0;
    if (hasData) stream.pipe(entry);
    else stream.resume();
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
