import { createHash } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { mkdir, stat } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { VesselError, hasErrno } from '../util/errors.js';
import { detectCompression, decompressor, readHead, type Compression } from './compression.js';
import { extractTarStream } from './extract.js';
import { fanOutFile, finished } from './streams.js';
import {
  MEDIA_LAYER_BZIP2, MEDIA_LAYER_GZIP, MEDIA_LAYER_TAR, MEDIA_LAYER_XZ, MEDIA_LAYER_ZSTD,
  commitPath, dropStaging, makeStaging, paths, readIndex, withStoreLock, type Descriptor,
} from './store.js';
import { findEquivalent, registerImage, setTag } from './commit.js';
import { hostArchitecture, hostOs, type OciImageConfig } from './oci-config.js';
import { formatImageRef, parseImageRef } from './ref.js';
import { toImageRecord } from './list.js';
import type { Digest, ImageRecord } from './types.js';
import type { ExtractLimits } from './validate.js';

export interface Progress {
  /** Bytes of the input read so far. */
  done: number;
  /** Size of the input in bytes. */
  total: number;
}

export interface ImportOptions {
  onProgress?: (p: Progress) => void;
  limits?: Partial<ExtractLimits>;
}

export const LAYER_MEDIA: Record<Compression, string> = {
  none: MEDIA_LAYER_TAR,
  gzip: MEDIA_LAYER_GZIP,
  zstd: MEDIA_LAYER_ZSTD,
  xz: MEDIA_LAYER_XZ,
  bzip2: MEDIA_LAYER_BZIP2,
};

export interface StagedLayer {
  blob: Descriptor;
  diffId: Digest;
  size: number;
}

/**
 * Unpack one (possibly compressed) layer tarball from `file` into the store: its bytes are kept
 * as the layer blob, its tar unpacked into layers/<diff id>/. Read once, streamed; everything
 * lands in a staging directory first and is renamed into place only after the whole stream was
 * validated, so a bad archive leaves the store exactly as it was.
 */
export async function importLayerFile(file: string, opts: ImportOptions & { source?: string } = {}): Promise<StagedLayer> {
  let total: number;
  try {
    const st = await stat(file);
    if (!st.isFile()) throw new VesselError('E_ARCHIVE', `${file}: not a regular file`);
    total = st.size;
  } catch (e) {
    if (hasErrno(e, 'ENOENT')) throw new VesselError('E_NOT_FOUND', `${file}: no such file`);
    throw e;
  }
  const source = opts.source ?? file;
  const kind = detectCompression(await readHead(file, 8));
  const staging = await makeStaging('layer');
  try {
    const layerDir = join(staging, 'layer');
    await mkdir(layerDir, { mode: 0o755 });
    const blobPath = join(staging, 'blob');
    const blobOut = createWriteStream(blobPath, { mode: 0o644 });
    const blobHash = createHash('sha256');
    const dec = decompressor(kind);
    let stopped = false;
    let stopNow!: () => void;
    const stopPromise = new Promise<void>((res) => { stopNow = res; });
    let done = 0;
    const pump = fanOutFile(
      file,
      [blobOut, dec.input],
      (chunk) => {
        blobHash.update(chunk);
        done += chunk.length;
        opts.onProgress?.({ done, total });
      },
      { promise: Promise.race([stopPromise, dec.done.catch(() => undefined)]), stopped: () => stopped },
    );
    pump.catch(() => undefined);
    let result;
    try {
      result = await extractTarStream(dec.output, layerDir, { source, limits: opts.limits ?? {}, upstream: Promise.all([pump, dec.done]).then(() => undefined) });
    } catch (e) {
      stopped = true;
      stopNow();
      dec.abort();
      blobOut.destroy();
      await pump.catch(() => undefined);
      await dec.done.catch(() => undefined);
      throw e;
    }
    await pump;
    await finished(blobOut);
    const blob: Descriptor = { mediaType: LAYER_MEDIA[kind], digest: `sha256:${blobHash.digest('hex')}`, size: done };
    await commitPath(blobPath, paths.blob(blob.digest));
    await commitPath(layerDir, paths.layer(result.diffId));
    return { blob, diffId: result.diffId, size: result.bytes };
  } finally {
    await dropStaging(staging);
  }
}

/**
 * `vessel image import FILE NAME[:TAG]` for a root filesystem tarball (.tar, .tar.gz/.tgz,
 * .tar.xz, .tar.zst — recognised by content): a one-layer image with an empty config.
 */
export async function importRootfsTarball(file: string, ref: string, opts: ImportOptions = {}): Promise<ImageRecord> {
  const imageRef = parseImageRef(ref);
  const layer = await importLayerFile(file, opts);
  const created = new Date().toISOString();
  const config: OciImageConfig = {
    created,
    architecture: hostArchitecture(),
    os: hostOs(),
    config: {},
    rootfs: { type: 'layers', diff_ids: [layer.diffId] },
    history: [{ created, created_by: `vessel image import ${basename(file)}` }],
  };
  const same = await findEquivalent([layer.diffId], config);
  if (same) {
    await withStoreLock(async () => setTag(await readIndex(), same, formatImageRef(imageRef)));
    return toImageRecord(same, imageRef);
  }
  const rec = await registerImage({ config, layerBlobs: [layer.blob], layerSizes: [layer.size] }, imageRef);
  return toImageRecord(rec, imageRef);
}
