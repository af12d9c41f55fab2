import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { writeFileAtomic, writeJsonAtomic } from '../util/index.js';
import {
  ID_ANNOTATION, MEDIA_CONFIG, MEDIA_MANIFEST, REF_ANNOTATION, allRecords, paths, readIndex, withStoreLock, writeIndex,
  type Descriptor, type OciIndex, type StoredImage,
} from './store.js';
import { canonicalJson, fromOciConfig, type OciImageConfig } from './oci-config.js';
import { formatImageRef } from './ref.js';
import type { Digest, ImageRef } from './types.js';

export function sha256(data: string | Uint8Array): Digest {
  return `sha256:${createHash('sha256').update(data).digest('hex')}`;
}

/** Store a small blob (config, manifest) under its digest; a no-op when it is already there. */
export function putBlob(data: string): Descriptor & { data: string } {
  const digest = sha256(data);
  const path = paths.blob(digest);
  if (!existsSync(path)) writeFileAtomic(path, data, 0o644);
  return { mediaType: '', digest, size: Buffer.byteLength(data), data };
}

export interface NewImage {
  config: OciImageConfig;
  /** Layer blobs (already in blobs/), base first, matching config.rootfs.diff_ids. */
  layerBlobs: Descriptor[];
  /** Unpacked size of each layer (already in layers/). */
  layerSizes: number[];
  /** Config and manifest kept byte for byte from an imported OCI archive (same digests). */
  configText?: string;
  manifest?: string;
}

/**
 * Make an image visible: config and manifest blobs, the record, then the index entry for
 * `ref` — last, under the store lock, so a crash before it leaves only unreferenced blobs that
 * `image prune` removes, never a tag pointing at half an image.
 */
export async function registerImage(img: NewImage, ref: ImageRef | undefined): Promise<StoredImage> {
  const configBlob = putBlob(img.configText ?? canonicalJson(img.config));
  const manifestText =
    img.manifest ??
    canonicalJson({
      schemaVersion: 2,
      mediaType: MEDIA_MANIFEST,
      config: { mediaType: MEDIA_CONFIG, digest: configBlob.digest, size: configBlob.size },
      layers: img.layerBlobs.map((d) => ({ mediaType: d.mediaType, digest: d.digest, size: d.size })),
    });
  const manifestBlob = putBlob(manifestText);
  const record: StoredImage = {
    id: configBlob.digest,
    manifest: { mediaType: MEDIA_MANIFEST, digest: manifestBlob.digest, size: manifestBlob.size },
    layerBlobs: img.layerBlobs,
    layers: img.config.rootfs.diff_ids,
    layerSizes: img.layerSizes,
    config: fromOciConfig(img.config.config),
    created: img.config.created ?? new Date().toISOString(),
    size: img.layerSizes.reduce((a, b) => a + b, 0),
    os: img.config.os,
    architecture: img.config.architecture,
  };
  return withStoreLock(async () => {
    writeJsonAtomic(paths.record(record.id), record);
    if (ref) setTag(await readIndex(), record, formatImageRef(ref));
    return record;
  });
}

/** Point `refText` at `record` (replacing what it pointed at) and write the index. Lock held. */
export function setTag(idx: OciIndex, record: StoredImage, refText: string): void {
  const manifests = idx.manifests.filter((d) => d.annotations?.[REF_ANNOTATION] !== refText);
  manifests.push({ ...record.manifest, annotations: { [REF_ANNOTATION]: refText, [ID_ANNOTATION]: record.id } });
  writeIndex({ ...idx, manifests });
}

/**
 * An existing image with the same layers, config, os and architecture, if any: re-importing the
 * same tarball gives back the same image instead of a twin differing only in its creation time.
 */
export async function findEquivalent(layers: Digest[], config: OciImageConfig): Promise<StoredImage | undefined> {
  const want = canonicalJson(fromOciConfig(config.config));
  for (const r of await allRecords()) {
    if (r.os !== config.os || r.architecture !== config.architecture) continue;
    if (r.layers.length !== layers.length || r.layers.some((l, i) => l !== layers[i])) continue;
    if (canonicalJson(r.config) !== want) continue;
    if (!existsSync(paths.blob(r.id)) || r.layers.some((l) => !existsSync(paths.layer(l)))) continue;
    return r;
  }
  return undefined;
}
