/**
 * The image store as registries see it (src/registry): read blobs of a local image to publish
 * them, and commit a pulled image — verified blobs fetched into a pull directory — with the same
 * staging, layer commit and index-last registration every import uses. Added by the registry
 * work; composes this folder's own primitives and adds no second way of storing anything.
 */
import { createReadStream, existsSync } from 'node:fs';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { config, tryLock } from '../util/index.js';
import { allRecords, dropStaging, paths, readIndex, readRecord, stagingDir, storeDir, withStoreLock, type Descriptor, type StoredImage } from './store.js';
import { commitLayers, type StagedLayer } from './layer.js';
import { registerImage, setTag } from './commit.js';
import { linkLowerFiles } from './lower-links.js';
import { findImage, toImageRecord } from './list.js';
import { formatImageRef } from './ref.js';
import type { OciImageConfig } from './oci-config.js';
import type { Digest, ImageRecord, ImageRef } from './types.js';

export { MEDIA_CONFIG, MEDIA_INDEX, MEDIA_MANIFEST, type Descriptor, type StoredImage } from './store.js';
export { hostOs, hostArchitecture } from './oci-config.js';
export type { OciImageConfig } from './oci-config.js';

/** A local image by NAME[:TAG] or id, with everything publishing needs. */
export async function localImage(text: string): Promise<{ stored: StoredImage; ref: ImageRef | undefined }> {
  return findImage(text);
}

export function blobPath(d: Digest): string {
  return paths.blob(d);
}

export function openBlob(d: Digest): Readable {
  return createReadStream(paths.blob(d), { highWaterMark: 1 << 20 });
}

export function hasLayer(diffId: Digest): boolean {
  return existsSync(paths.layer(diffId));
}

export function hasBlob(d: Digest): boolean {
  return existsSync(paths.blob(d));
}

export function imagesDir(): string {
  return storeDir();
}

/**
 * A pull's download directory, stable per manifest so that a rerun after an interruption finds
 * the blobs already fetched. Inside the store (same filesystem: committing is a rename).
 */
export async function pullDir(key: string): Promise<string> {
  return stagingDir(`pull-${key}`, true);
}

/**
 * The lock a pull of one manifest holds while it uses its directory: a second pull of the same
 * image waits for it, and prune or a finished rerun removes the directory only when it can take it.
 */
export function pullLockPath(key: string): string {
  return join(config().run, 'locks', `pull-${key.slice(0, 32)}.lock`);
}

/**
 * Remove the pull directory of manifest `key` if one is left and no pull is using it: a pull
 * SIGKILLed after its image was committed, but before it removed its directory, leaves one that
 * no rerun resumes (the image is whole). False when a live pull holds it.
 */
export async function dropIdlePullDir(key: string): Promise<boolean> {
  const dir = join(paths.tmp(), `pull-${key}`);
  if (!existsSync(dir)) return true;
  const lock = tryLock(pullLockPath(key));
  if (!lock) return false;
  try {
    await dropStaging(dir);
    return true;
  } finally {
    lock.release();
  }
}

/** Remove a pull directory, and tmp/ when nothing else is staged there. */
export async function removePullDir(dir: string): Promise<void> {
  await dropStaging(dir);
}

/** When the store already has this image whole, tag it and return it (nothing to fetch). */
export async function tagExisting(configDigest: Digest, ref: ImageRef): Promise<ImageRecord | undefined> {
  const existing = await readRecord(configDigest);
  if (!existing || !existing.layers.every((l) => hasLayer(l)) || !hasBlob(existing.manifest.digest)) return undefined;
  await withStoreLock(async () => setTag(await readIndex(), existing, formatImageRef(ref)));
  return toImageRecord(existing, ref);
}

export interface PulledLayer {
  desc: Descriptor;
  diffId: Digest;
  /**
   * The layer as unpacked while it was downloaded (openLayerFeed), in the pull directory; or
   * undefined when the store already has the blob and its layer. A layer the manifest names
   * twice is staged once: the same object appears at both places.
   */
  staged: StagedLayer | undefined;
}

/**
 * Commit a pulled image whose layers are staged and verified (blob digest and diff id). Config
 * and manifest are kept byte for byte (the image id and manifest digest stay the registry's);
 * layers and blobs move into the store by rename, the tag is written last. A failure before
 * the tag leaves only content-addressed blobs and layers, never a tag naming half an image.
 */
export async function commitPulledImage(p: {
  manifestText: string;
  configText: string;
  config: OciImageConfig;
  layers: PulledLayer[];
  ref: ImageRef;
  /** The registry and image, for messages. */
  source: string;
}): Promise<ImageRecord> {
  const sizes: number[] = [];
  let known: StoredImage[] | undefined;
  for (const l of p.layers) {
    if (l.staged) {
      sizes.push(l.staged.size);
      continue;
    }
    known ??= await allRecords();
    const r = known.find((k) => k.layers.includes(l.diffId));
    sizes.push(r ? (r.layerSizes[r.layers.indexOf(l.diffId)] ?? 0) : 0);
  }
  await linkLowerFiles(p.layers, p.source);
  await commitLayers([...new Set(p.layers.flatMap((l) => (l.staged ? [l.staged] : [])))]);
  const rec = await registerImage(
    { config: p.config, configText: p.configText, manifest: p.manifestText, layerBlobs: p.layers.map((l) => ({ mediaType: l.desc.mediaType, digest: l.desc.digest, size: l.desc.size })), layerSizes: sizes },
    p.ref,
  );
  return toImageRecord(rec, p.ref);
}
