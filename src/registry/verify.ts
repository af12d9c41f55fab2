import { createHash, type Hash } from 'node:crypto';
import { Transform, pipeline, type Readable, type TransformCallback } from 'node:stream';
import { VesselError } from '../util/index.js';
import type { Digest } from '../image/index.js';

/** Read a small object (manifest, config, ref) whole, refusing more than `max` bytes; `what` names it. */
export async function readSmall(stream: Readable, max: number, what = 'object'): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let n = 0;
  for await (const c of stream as AsyncIterable<Buffer>) {
    n += c.length;
    if (n > max) {
      stream.destroy();
      throw new VesselError('E_REGISTRY', `${what} is larger than ${max} bytes`);
    }
    chunks.push(c);
  }
  return Buffer.concat(chunks);
}

/**
 * Passes bytes through while hashing them; fails the stream at its end when the size or the
 * digest is not the expected one, and as soon as it gets more bytes than expected. Small blobs
 * (configs, uploads) go through this; layers are checked chunk by chunk in layer-fetch.ts with
 * the same two checks (tooLong, endCheck).
 */
export class DigestCheck extends Transform {
  readonly hash: Hash = createHash('sha256');
  bytes = 0;
  constructor(readonly expected: Digest, readonly size: number, readonly what: string) {
    super({ highWaterMark: 1 << 20 });
  }
  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    this.bytes += chunk.length;
    const over = tooLong(this.what, this.bytes, this.size);
    if (over) return cb(over);
    this.hash.update(chunk);
    cb(null, chunk);
  }
  override _flush(cb: TransformCallback): void {
    cb(endCheck(this.what, this.hash, this.bytes, this.size, this.expected));
  }
}

/** More bytes than the manifest declares: final (tampering), as soon as it happens. */
export function tooLong(what: string, bytes: number, size: number): VesselError | undefined {
  if (size < 0 || bytes <= size) return undefined;
  return new VesselError('E_REGISTRY', `${what}: more than the ${size} bytes the manifest declares`, { hint: 'the registry holds different content than the manifest names; nothing was stored' });
}

/**
 * The check at a blob's end: too short is a dropped connection (transient, resumed); a digest
 * that differs is tampering or damage (final). Undefined when the blob is the one named.
 */
export function endCheck(what: string, hash: Hash, bytes: number, size: number, expected: Digest): Error | undefined {
  return sizeCheck(what, bytes, size) ?? digestCheck(what, `sha256:${hash.digest('hex')}`, expected);
}

/** endCheck's first half, alone for a blob whose digest is computed elsewhere (layer-fetch.ts). */
export function sizeCheck(what: string, bytes: number, size: number): Error | undefined {
  return size >= 0 && bytes !== size ? new TruncatedBlob(`${what}: got ${bytes} of ${size} bytes`) : undefined;
}

/** endCheck's second half: `got` is the digest of the bytes received. */
export function digestCheck(what: string, got: Digest, expected: Digest): Error | undefined {
  if (got === expected) return undefined;
  return new VesselError('E_REGISTRY', `${what}: digest mismatch (content is ${got})`, { hint: 'the registry holds tampered or damaged content; nothing was stored' });
}

/** A short read: the connection ended early. Transient (retried, resumed), unlike a mismatch. */
export class TruncatedBlob extends Error {
  readonly code = 'ETRUNCATED';
}

/**
 * The stream to upload for a blob: its bytes counted (progress) and checked against the digest
 * on the way, so a damaged local blob fails the upload instead of poisoning the registry.
 * A Transform, not a 'data' listener: that would start the flow before the uploader reads.
 */
export function uploadStream(src: Readable, digest: Digest, size: number, onBytes?: (n: number) => void): Readable {
  const check = new DigestCheck(digest, size, `upload of ${digest}`);
  const count = new Transform({
    highWaterMark: 1 << 20,
    transform(c: Buffer, _e, cb) {
      onBytes?.(c.length);
      cb(null, c);
    },
  });
  return pipeline(src, check, count, () => undefined);
}
