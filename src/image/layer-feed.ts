import { mkdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { VesselError } from '../util/index.js';
import { detectCompression } from './compression.js';
import { extractTarFollow, type ExtractResult, type FollowFeed } from './extract.js';
import { finishStaged, lowerLinksAllowed, type StagedLayer } from './layer.js';
import type { Descriptor } from './store.js';

/**
 * A layer unpacked while its blob arrives (registry pulls): the caller appends the compressed
 * bytes to the blob's file as it receives them and says so here, and they go through the
 * decompressor into the one safe extraction (the native gate and its judge) in the same pass —
 * no second read of the blob, no buffering beyond the pipes' own. Whatever the format, the gate
 * reads the file itself as it grows (extractTarFollow), straight or through its decompressor:
 * the bytes are not written a second time, into a pipe, from Node's thread. The caller verifies
 * the blob's digest: by hashing it itself before end(), or, for a plain tar (digestsBlob), by
 * comparing end()'s diff id — the gate hashed every byte of the file, which is the blob — before
 * it names the blob or commits anything; until then the unpacked directory is staging, never part
 * of the store.
 */
export interface LayerFeed {
  /**
   * `chunk` has just been appended to the file (the whole file, from its first byte, in
   * order: a resumed download says so of the bytes kept too). Lent: valid only during the call.
   * Never waits (the file holds what the unpacker has not read yet); throws once the unpacking
   * failed.
   */
  grew(chunk: Buffer): void;
  /**
   * The file is complete and its digest verified (it may have been renamed `blobPath` since):
   * finish unpacking and give the staged layer.
   */
  end(blob: Descriptor, blobPath: string): Promise<StagedLayer>;
  /** Stop unpacking (a failed download); the staged directory is left for the caller to drop. */
  abort(): Promise<void>;
  /**
   * True when end()'s diff id is the digest of the file itself, hashed by the gate as it read it
   * (a plain tar: its blob is its tar stream), so the caller need not hash the blob again; false
   * when the caller must; undefined until the first bytes have said the format.
   */
  readonly digestsBlob: boolean | undefined;
}

/** Compressed formats are told apart by their first bytes: wait for this many before choosing. */
const MAGIC = 8;

/**
 * Open a feed unpacking `file` (the blob's, as it is being written) into `staging/<name>`
 * (removed first: a killed earlier attempt may have left half a tree there, which must not mix
 * with this one).
 */
export async function openLayerFeed(staging: string, name: string, opts: { source: string; whiteouts: boolean; file: string }): Promise<LayerFeed> {
  const layerDir = join(staging, name);
  await rm(layerDir, { recursive: true, force: true });
  await mkdir(layerDir, { mode: 0o755 });
  let head: Buffer[] = [];
  let headBytes = 0;
  let followed: FollowFeed | undefined;
  let plain = false;
  let result: Promise<ExtractResult> | undefined;
  let failure: unknown;
  let settled: Promise<unknown> = new Promise(() => undefined);

  const start = (first: Buffer, file: string): void => {
    const kind = detectCompression(first);
    plain = kind === 'none';
    // The gate hashes what it reads (the diff id): for a plain tar that is the blob's digest too,
    // computed off Node's thread, so the caller does not hash the blob (digestsBlob).
    followed = extractTarFollow(file, kind, layerDir, { source: opts.source, externalLinks: lowerLinksAllowed(opts) });
    result = followed.result;
    result.catch((e: unknown) => { failure = e; });
    settled = result.then(() => undefined, () => undefined);
  };
  const push = (bytes: number): void => {
    if (failure !== undefined) throw failure;
    followed!.grew(bytes);
  };
  const flushHead = (file: string): void => {
    const first = Buffer.concat(head);
    head = [];
    start(first, file);
    push(first.length);
  };

  return {
    grew(chunk) {
      if (result) return push(chunk.length);
      // Kept until the first bytes say the format: the feed's own copy of a lent chunk.
      head.push(Buffer.from(chunk));
      headBytes += chunk.length;
      if (headBytes >= MAGIC) flushHead(opts.file);
    },
    get digestsBlob() {
      return result ? plain : undefined;
    },
    async end(blob, blobPath) {
      if (!result) flushHead(blobPath);
      followed!.end();
      const r = await result!;
      // The gate read a plain tar's file itself: its digest is the blob's only if it read it all.
      if (plain && r.streamBytes !== blob.size) throw new VesselError('E_ARCHIVE', `${opts.source}: the unpacker read ${r.streamBytes} bytes of a ${blob.size}-byte blob`);
      return finishStaged(r, { blob, blobPath, layerDir, source: opts.source, whiteouts: opts.whiteouts });
    },
    async abort() {
      if (!result) return;
      followed!.abort();
      await settled;
    },
  };
}
