import type { Readable } from 'node:stream';
import type { Digest } from '../image/index.js';

/**
 * The one interface a dumb store implements (file, http, s3, sftp, ftp, and the metadata half
 * of zfs): named objects, nothing more. Keys are relative, '/'-separated ("blobs/sha256/<hex>").
 *
 * `put` must be atomic from a reader's point of view — the object is whole or absent — because
 * the layout decides "already there, skip it" from its presence and size. Every transport gets
 * this from its medium: S3 objects, or write-to-temporary + rename (file, sftp, ftp, http PUT
 * servers that do the same).
 */
export interface ObjectStat {
  size: number;
}

/**
 * Takes an object's bytes in order. The chunk is lent: valid only during the call (a transport
 * may read the next bytes into the same memory). A returned promise pauses the transfer until it
 * settles; a rejection stops it with that reason.
 */
export type ChunkSink = (chunk: Buffer) => Promise<void> | undefined;

/**
 * What a read is asked for: the object from `offset` on, and a signal that stops it (a pull whose
 * caller went away, or whose other download failed). An aborted read ends at once — a transfer
 * that is waiting for the server included — and rejects with the signal's reason.
 */
export interface ReadOptions {
  offset?: number;
  signal?: AbortSignal;
}

/**
 * Calls `stop` with the reason when `signal` aborts (at once when it already has); returns what
 * undoes the listening, to be called when the operation it guards is over.
 */
export function onAbort(signal: AbortSignal | undefined, stop: (reason: unknown) => void): () => void {
  if (!signal) return () => undefined;
  if (signal.aborted) {
    stop(signal.reason);
    return () => undefined;
  }
  const listener = (): void => stop(signal.reason);
  signal.addEventListener('abort', listener, { once: true });
  return () => signal.removeEventListener('abort', listener);
}

/**
 * `p`, or the signal's reason as soon as it aborts: for a step of a protocol (an sftp OPEN, an FTP
 * SIZE) that has no way to be cancelled itself. Its late answer, if one ever comes, is dropped.
 */
export function abortable<T>(p: Promise<T>, signal: AbortSignal | undefined): Promise<T> {
  if (!signal) return p;
  return new Promise<T>((resolve, reject) => {
    const off = onAbort(signal, reject);
    p.then((v) => { off(); resolve(v); }, (e: unknown) => { off(); reject(e); });
  });
}

/**
 * A stream's chunks into a sink, honouring its back-pressure: for media whose reads are streams.
 * An abort destroys the stream (its connection with it) and rejects with the signal's reason.
 */
export function pumpStream(src: Readable, sink: ChunkSink, signal?: AbortSignal): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    let settled = false;
    let off = (): void => undefined;
    const fail = (e: unknown) => {
      if (settled) return;
      settled = true;
      off();
      src.destroy();
      reject(e);
    };
    off = onAbort(signal, fail);
    // 'data' events, not an async iterator: that one concatenates whatever is buffered into a
    // new Buffer at every step (a copy of each byte, and garbage).
    src.on('data', (c: Buffer) => {
      if (settled) return;
      try {
        const wait = sink(c);
        if (wait) {
          src.pause();
          wait.then(() => { if (!settled) src.resume(); }, fail);
        }
      } catch (e) {
        fail(e);
      }
    });
    src.once('end', () => {
      if (settled) return;
      settled = true;
      off();
      resolve();
    });
    src.once('error', fail);
    src.once('close', () => fail(Object.assign(new Error('the connection closed before the end of the object'), { code: 'ERR_STREAM_PREMATURE_CLOSE' })));
  });
}

export interface Transport {
  /** The registry URL without credentials, for messages. */
  readonly display: string;
  /** How many blobs may be read at once (undefined: PARALLEL_BLOBS); 1 where the medium runs one transfer at a time. */
  readonly parallel?: number;
  stat(key: string): Promise<ObjectStat | undefined>;
  /**
   * The object's bytes from `offset` on; a VesselError E_NOT_FOUND when absent. An abort of
   * `signal` ends the read wherever it waits (the stream is destroyed, its connection let go).
   */
  get(key: string, opts?: ReadOptions): Promise<Readable>;
  /**
   * The same bytes lent to `sink` chunk by chunk, with no stream in between and no buffer per
   * chunk (layer downloads); resolves at the object's end. Rejects with the signal's reason as
   * soon as it aborts, not at the next chunk: a stalled server sends none. Where absent, get()
   * is pumped.
   */
  pump?(key: string, sink: ChunkSink, opts?: ReadOptions): Promise<void>;
  /** Store the stream under `key`; `size` when known lets transports pick single or multipart. */
  put(key: string, body: Readable, size?: number): Promise<void>;
  /** Every key under `prefix` (recursively), relative to the registry root. Undefined: cannot list. */
  list?(prefix: string): Promise<string[]>;
  delete?(key: string): Promise<void>;
  /**
   * Compare-and-swap for the one object that is read, changed and written back (the tag index on
   * media that cannot list): the object with an opaque version (HTTP ETag), and a write that
   * happens only while the object is still at that version (undefined: only while absent).
   * `putIfVersion` resolves false when someone else wrote first. A transport whose server gives
   * no versions returns `version: undefined` for an existing object; the layout then falls back
   * to write-and-check.
   */
  readVersioned?(key: string): Promise<{ data: Buffer; version: string | undefined } | undefined>;
  putIfVersion?(key: string, data: Buffer, version: string | undefined): Promise<boolean>;
  close(): Promise<void>;
}

/**
 * Blobs a pull fetches at once where the medium allows it: enough to overlap one layer's
 * round trips and unpacking with another's transfer, few enough that a server is not flooded
 * (rclone's --transfers is 4 too) and each layer's zstd and tar keep a core's share.
 */
export const PARALLEL_BLOBS = 4;

/** A manifest as fetched: its exact bytes (digests are over them) and media type. */
export interface FetchedManifest {
  text: string;
  digest: Digest;
  mediaType: string;
}

/**
 * What publish and pull need of a registry, whatever its kind. Blob calls name the image too: the OCI API
 * keeps blobs per repository, dumb stores ignore it. Dumb stores get it from
 * layout.ts over a Transport; the OCI distribution API (oci.ts) implements it natively.
 */
export interface Registry {
  readonly display: string;
  /** How many blobs a pull fetches at once. */
  readonly parallel?: number;
  /** True when the blob is there whole (right size). */
  hasBlob(name: string, digest: Digest, size: number): Promise<boolean>;
  getBlob(name: string, digest: Digest, opts?: ReadOptions): Promise<Readable>;
  /** The blob's bytes lent to `sink` (Transport.pump); resolves at its end, rejects with the signal's reason once it aborts. */
  pumpBlob(name: string, digest: Digest, sink: ChunkSink, opts?: ReadOptions): Promise<void>;
  /** Upload a blob; `open` is called again for each retry, so it must give a fresh stream. */
  putBlob(name: string, digest: Digest, size: number, open: () => Readable, onBytes?: (n: number) => void): Promise<void>;
  /** The manifest `tag` of `name` points at, or undefined when there is no such tag. */
  getManifest(name: string, tagOrDigest: string, opts?: { signal?: AbortSignal }): Promise<FetchedManifest | undefined>;
  /** Store the manifest and point name:tag at it. The ref is the very last thing written. */
  putManifest(name: string, tag: string, manifest: FetchedManifest): Promise<void>;
  tags(name: string): Promise<string[]>;
  /** Detached signature documents of a manifest digest (sign.ts). */
  putSignature(name: string, digest: Digest, doc: string): Promise<void>;
  getSignature(name: string, digest: Digest, opts?: { signal?: AbortSignal }): Promise<string | undefined>;
  close(): Promise<void>;
}
