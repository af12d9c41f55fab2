import { createHash, type Hash } from 'node:crypto';
import { closeSync, createReadStream, existsSync, openSync, writeSync } from 'node:fs';
import { rename, stat, truncate, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { VesselError, isVesselError } from '../util/index.js';
import { openLayerFeed, type Descriptor, type LayerFeed, type StagedLayer } from '../image/index.js';
import type { Digest } from '../image/index.js';
import type { Registry } from './transport.js';
import { isResumable, withRetry, type RetryOptions } from './retry.js';
import { digestCheck, endCheck, sizeCheck, tooLong } from './verify.js';
import type { Reporter } from './progress.js';

/**
 * Bytes read from disk or network at a time: small, so that a pull's memory stays flat whatever
 * the layer's size (several layers move at once, each with its pipes to zstd and tar).
 */
const CHUNK = 64 * 1024;

export interface LayerJob {
  reg: Registry;
  name: string;
  desc: Descriptor;
  /** The config's diff id for this layer: checked at the layer's end (the config may still be on its way). */
  diffId: Promise<Digest>;
  /**
   * Stops the download at once (another layer of the pull failed, or its caller went away): the
   * transfer is cut wherever it waits — a stalled server's too — and what this layer fails
   * with is the signal's reason, so its bytes stay for a rerun.
   */
  signal?: AbortSignal;
  /** The pull directory (stable per manifest, inside the store): blobs and unpacked trees. */
  dir: string;
  what: string;
  rep: Reporter;
  retry: RetryOptions;
}

/**
 * One layer in one streamed pass: each chunk is appended to `<hex>.part` (the blob the store
 * keeps, and what a rerun resumes from) and hashed, and the unpacker reads that file as it grows
 * (the native gate follows it, through the format's decompressor: image/layer-feed.ts); at the end
 * the digest is checked before the blob gets its name, then the unpacked tree's diff id. A plain
 * tar is hashed by the gate instead (BlobDigest): its digest is known once the gate has read the
 * whole file, i.e. after the feed's end, and the blob is named only then. Bytes a
 * killed earlier run left (`<hex>.part`, or the whole `<hex>`) are hashed again here and unpacked
 * from the file from its first byte, so only what is missing crosses the network. A dropped
 * connection resumes from the bytes already taken, with the same hash and the same unpacker.
 */
export async function fetchLayer(j: LayerJob): Promise<{ staged: StagedLayer; fetched: number }> {
  const hex = j.desc.digest.slice(7);
  const final = join(j.dir, hex);
  const part = `${final}.part`;
  // `<hex>` gets its name only once verified: one of another length was changed since, and is
  // not what a resume continues.
  if (existsSync(final) && (await stat(final)).size !== j.desc.size) await unlink(final);
  const local = existsSync(final) ? final : part;
  let have = await resumable(local, j.desc.size);
  const feed = await openLayerFeed(j.dir, `layer-${hex}`, { source: j.what, whiteouts: true, file: local });
  let fh: number | undefined;
  try {
    const digest = new BlobDigest(feed);
    if (have > 0) await replay(local, have, digest, feed);
    j.rep.bytes(have);
    let fetched = 0;
    if (local === final && have === j.desc.size) {
      j.rep.emit({ event: 'blob', digest: j.desc.digest, size: j.desc.size, action: 'skip' });
    } else {
      j.rep.emit({ event: 'blob', digest: j.desc.digest, size: j.desc.size, action: have > 0 ? 'resume' : 'download' });
      // Written synchronously, from the lent chunk, before the next one is read: no buffer per
      // chunk waits for the disk, and after a dropped connection the file ends exactly at the
      // bytes hashed. A disk that cannot keep up pauses the download as a slow stream would.
      const fd = openSync(part, have > 0 ? 'a' : 'w', 0o644);
      fh = fd;
      const take = (c: Buffer): undefined => {
        // A chunk already read when the signal aborted is not written: the file ends where the stop found it.
        j.signal?.throwIfAborted();
        const over = tooLong(j.what, have + c.length, j.desc.size);
        if (over) throw over;
        for (let off = 0; off < c.length;) off += writeSync(fd, c, off);
        have += c.length;
        fetched += c.length;
        j.rep.bytes(c.length);
        // Already in the file, which the unpacker reads: never a reason to wait.
        feed.grew(c);
        digest.update(c);
        return undefined;
      };
      await withRetry(async () => {
        await j.reg.pumpBlob(j.name, j.desc.digest, take, { ...(have > 0 ? { offset: have } : {}), signal: j.signal });
        const bad = digest.check(j.what, have, j.desc.size, j.desc.digest);
        if (bad) throw bad;
      }, { ...j.retry, signal: j.signal });
      closeSync(fd);
      fh = undefined;
      if (!digest.byGate) await rename(part, final);
    }
    if (local === final) {
      const bad = digest.check(j.what, have, j.desc.size, j.desc.digest);
      if (bad) throw bad;
    }
    const named = !digest.byGate || local === final;
    let staged = await feed.end({ mediaType: j.desc.mediaType, digest: j.desc.digest, size: j.desc.size }, named ? final : part);
    if (digest.byGate) {
      // The gate read the whole file: the blob is verified now, and only now gets its name.
      const bad = digestCheck(j.what, staged.diffId, j.desc.digest);
      if (bad) throw bad;
      if (!named) {
        await rename(part, final);
        staged = { ...staged, blobPath: final };
      }
    }
    const diffId = await j.diffId;
    if (staged.diffId !== diffId) throw new VesselError('E_ARCHIVE', `${j.what}: uncompressed digest ${staged.diffId} is not the config's diff id ${diffId}`);
    j.rep.emit({ event: 'blob', digest: j.desc.digest, size: j.desc.size, action: 'done' });
    return { staged, fetched };
  } catch (e) {
    if (fh !== undefined) closeSync(fh);
    await feed.abort();
    // A mismatch or a refused entry is final: those bytes must not seed the next attempt. A stop
    // from outside (another layer failed, the caller went away) says nothing about them.
    if (isVesselError(e) && !isResumable(e) && !(j.signal?.aborted && e === j.signal.reason)) {
      await unlink(part).catch(() => undefined);
      await unlink(final).catch(() => undefined);
    }
    throw e;
  }
}

/** How many bytes of an earlier attempt's file can be reused (none when it is too long). */
async function resumable(file: string, size: number): Promise<number> {
  const have = (await stat(file).catch(() => undefined))?.size ?? 0;
  if (have <= size) return have;
  await truncate(file, 0);
  return 0;
}

/**
 * The first `n` bytes of `file` (kept by an earlier attempt) to the hash, and told to the feed
 * (the gate reads them from the file itself).
 */
async function replay(file: string, n: number, digest: BlobDigest, feed: LayerFeed): Promise<void> {
  const rs = createReadStream(file, { end: n - 1, highWaterMark: CHUNK });
  try {
    for await (const c of rs as AsyncIterable<Buffer>) {
      feed.grew(c);
      digest.update(c);
    }
  } finally {
    rs.destroy();
  }
}

/**
 * The blob's digest: hashed here, chunk by chunk, unless the feed's gate hashes the same bytes
 * (a plain tar, LayerFeed.digestsBlob: ~100 ms of Node's thread per 190 MB saved, on the pull's
 * critical path); then only the size is checked here, and the digest against end()'s diff id.
 * The first few bytes, before the feed knows the format, are kept (copied: chunks are lent).
 */
class BlobDigest {
  private readonly hash: Hash = createHash('sha256');
  private pending: Buffer[] | undefined = [];
  private gate = false;
  constructor(private readonly feed: LayerFeed) {}

  /** `c` was just told to the feed. */
  update(c: Buffer): void {
    if (this.pending !== undefined) {
      const byGate = this.feed.digestsBlob;
      if (byGate === undefined) {
        this.pending.push(Buffer.from(c));
        return;
      }
      this.decide(byGate);
    }
    if (!this.gate) this.hash.update(c);
  }

  /** The gate's diff id is the blob's digest (decided by the first bytes; a blob too short to tell is hashed here). */
  get byGate(): boolean {
    if (this.pending !== undefined) this.decide(this.feed.digestsBlob === true);
    return this.gate;
  }

  /** endCheck's, or only its size half when the gate hashes. */
  check(what: string, bytes: number, size: number, expected: Digest): Error | undefined {
    return this.byGate ? sizeCheck(what, bytes, size) : endCheck(what, this.hash, bytes, size, expected);
  }

  private decide(byGate: boolean): void {
    this.gate = byGate;
    if (!byGate) for (const p of this.pending!) this.hash.update(p);
    this.pending = undefined;
  }
}
