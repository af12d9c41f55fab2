import { existsSync } from 'node:fs';
import { mkdir, readdir, rename, rm, rmdir } from 'node:fs/promises';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { config, readJsonFile, writeJsonAtomic, withLock, VesselError, hasErrno, run } from '../util/index.js';
import { tarForms } from './tar-forms.js';
import type { Digest, ImageConfig } from './types.js';

/**
 * The image store (APPC_IMAGE_DIR) is an OCI image layout, so skopeo/umoci can read it in place:
 *
 *   oci-layout, index.json      OCI; each manifest annotated with its vessel name:tag
 *   blobs/sha256/<hex>          layer blobs (as imported), image configs, manifests
 *   layers/<diff hex>/          each layer unpacked once (overlay lower dir), shared by all images
 *   records/<config hex>.json   what vessel needs to list and run an image without parsing blobs
 *   tmp/                        staging; an import becomes visible only by renames, index last
 */
export const REF_ANNOTATION = 'org.opencontainers.image.ref.name';
/** On index entries: the image id (config digest), so listing needs no manifest read. */
export const ID_ANNOTATION = 'io.vessel.image.id';
export const MEDIA_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
export const MEDIA_INDEX = 'application/vnd.oci.image.index.v1+json';
export const MEDIA_CONFIG = 'application/vnd.oci.image.config.v1+json';
export const MEDIA_LAYER_TAR = 'application/vnd.oci.image.layer.v1.tar';
export const MEDIA_LAYER_GZIP = 'application/vnd.oci.image.layer.v1.tar+gzip';
export const MEDIA_LAYER_ZSTD = 'application/vnd.oci.image.layer.v1.tar+zstd';
/** Not an OCI media type: xz/bzip2 blobs are kept as imported and re-encoded on export. */
export const MEDIA_LAYER_XZ = 'application/vnd.vessel.image.layer.v1.tar+xz';
export const MEDIA_LAYER_BZIP2 = 'application/vnd.vessel.image.layer.v1.tar+bzip2';

export interface Descriptor {
  mediaType: string;
  digest: Digest;
  size: number;
  annotations?: Record<string, string>;
}

export interface OciIndex {
  schemaVersion: 2;
  mediaType?: string;
  manifests: Descriptor[];
}

/** The per-image record kept beside the blobs: an ImageRecord without name and tag. */
export interface StoredImage {
  id: Digest;
  manifest: Descriptor;
  /** Layer blobs in manifest order, base first (same order as `layers`). */
  layerBlobs: Descriptor[];
  layers: Digest[];
  /** Unpacked size of each layer in bytes. */
  layerSizes: number[];
  config: ImageConfig;
  created: string;
  size: number;
  os: string;
  architecture: string;
}

export function storeDir(): string {
  return config().images;
}

export function hexOf(d: Digest): string {
  return d.slice('sha256:'.length);
}

export function isDigest(s: string): s is Digest {
  return /^sha256:[0-9a-f]{64}$/.test(s);
}

export const paths = {
  blob: (d: Digest) => join(storeDir(), 'blobs', 'sha256', hexOf(d)),
  layer: (diffId: Digest) => join(storeDir(), 'layers', hexOf(diffId)),
  /** A layer chain applied into one directory (flat.ts), named by its top ChainID. */
  flat: (chainId: Digest) => join(storeDir(), 'flat', hexOf(chainId)),
  record: (id: Digest) => join(storeDir(), 'records', `${hexOf(id)}.json`),
  index: () => join(storeDir(), 'index.json'),
  layout: () => join(storeDir(), 'oci-layout'),
  tmp: () => join(storeDir(), 'tmp'),
  lock: () => join(config().run, 'locks', 'images.lock'),
};

/** A fresh staging directory inside the store (same filesystem, so commits are renames). */
let createdStoreDir = false;

export async function makeStaging(kind: string): Promise<string> {
  if (!existsSync(storeDir())) createdStoreDir = true;
  return stagingDir(`${kind}-${process.pid}-${randomBytes(6).toString('hex')}`, false);
}

/**
 * tmp/NAME, made (`reuse`: or kept, a pull's resumable directory). A failed first import takes
 * its new store away, tmp/ with it (dropStaging), so tmp/ may go between stagingRoot() and the
 * mkdir here (two first imports at once): it is then made, and flagged, again.
 */
export async function stagingDir(name: string, reuse: boolean): Promise<string> {
  for (let attempt = 1; ; attempt++) {
    const dir = join(await stagingRoot(), name);
    try {
      await mkdir(dir, { recursive: reuse, mode: 0o700 });
      return dir;
    } catch (e) {
      if (!hasErrno(e, 'ENOENT') || attempt === 5) throw e;
    }
  }
}

/**
 * tmp/, made ready for staging trees: every tree staged in it in a block group of its own. ext4
 * without a journal does not reuse an inode freed seconds ago: every allocation scans past each
 * one (fs/ext4/ialloc.c recently_deleted). The store frees whole trees all the time (image rm,
 * prune, a staging tree dropped as a duplicate), and a layer unpacked beside a tree just removed
 * was 2-5× slower to create for that alone. ext4's T flag (tar-forms.ts spreadTrees) makes the
 * Orlov allocator place each directory made in the flagged one afresh, starting from a hash of
 * its name: tmp/ carries it, for the staging trees (whose names are random), and so does the
 * store's directory, for tmp/ itself. With a journal there is no such scan and the flag only
 * spreads the trees. Best effort: a file system without the flag, or no chattr, changes nothing
 * else.
 *
 * tmp/ is part of the store: made, and flagged, once, and kept (empty) between stagings. It went
 * whenever its last staging did, and each import, or each import after a prune, made it again:
 * a chattr each time (~2 ms of a served import, and a fork of vessel up), for a directory whose
 * flag never changes. Only a failed first import removes it, with the store it made.
 */
async function stagingRoot(): Promise<string> {
  const tmp = paths.tmp();
  if (existsSync(tmp)) return tmp;
  const dir = storeDir();
  await mkdir(dir, { recursive: true, mode: 0o700 });
  // Where the store's directory refused the flag (xfs, btrfs, tmpfs), tmp/ would too: no chattr.
  const flagged = await spreadDir(dir);
  try {
    await mkdir(tmp, { mode: 0o700 });
  } catch (e) {
    if (hasErrno(e, 'EEXIST')) return tmp;
    throw e;
  }
  if (flagged) await spreadDir(tmp);
  return tmp;
}

/** The T flag on `dir`: true if set. */
async function spreadDir(dir: string): Promise<boolean> {
  const argv = tarForms().spreadTrees?.(dir);
  if (!argv) return false;
  const r = await run(argv, { allowFailure: true }).catch(() => undefined);
  return r?.exitCode === 0;
}

/** Remove a staging directory, so a failure leaves no trace (tmp/ stays: stagingRoot). */
export async function dropStaging(dir: string): Promise<void> {
  await rm(dir, { recursive: true, force: true });
  if (!createdStoreDir) return;
  createdStoreDir = false;
  // A first import that failed must not even leave an empty store behind; one that succeeded
  // keeps tmp/ with the rest.
  const held = await readdir(storeDir()).catch(() => ['?']);
  if (held.some((n) => n !== 'tmp')) return;
  try {
    await rmdir(paths.tmp());
    await rmdir(storeDir());
  } catch {
    /* holds something now: it is a real store */
  }
}

/**
 * Move a staged file or directory to its content-addressed place. Another import of the same
 * content may have got there first: then the staged copy is dropped (same digest, same content).
 * Returns true when this call created it.
 */
export async function commitPath(staged: string, target: string): Promise<boolean> {
  await mkdir(join(target, '..'), { recursive: true });
  try {
    await rename(staged, target);
    return true;
  } catch (e) {
    if (hasErrno(e, 'EEXIST') || hasErrno(e, 'ENOTEMPTY') || hasErrno(e, 'EISDIR')) {
      await rm(staged, { recursive: true, force: true });
      return false;
    }
    throw e;
  }
}

export async function readIndex(): Promise<OciIndex> {
  const idx = await readJsonFile<OciIndex>(paths.index());
  if (!idx) return { schemaVersion: 2, mediaType: MEDIA_INDEX, manifests: [] };
  if (!Array.isArray(idx.manifests)) throw new VesselError('E_STATE', `${paths.index()}: no "manifests" list`);
  return idx;
}

export function writeIndex(idx: OciIndex): void {
  // Never changes: written once, not with every index (a rename over it frees the old one, which
  // on a file system mounted with discard is a device request the import waits for).
  if (!existsSync(paths.layout())) writeJsonAtomic(paths.layout(), { imageLayoutVersion: '1.0.0' });
  writeJsonAtomic(paths.index(), idx);
}

/** Serialise index updates between vessel processes (imports, tags, removals, prune). */
export function withStoreLock<T>(fn: () => Promise<T>): Promise<T> {
  return withLock(paths.lock(), fn, { what: 'image store', timeoutMs: 120_000 });
}

export async function readRecord(id: Digest): Promise<StoredImage | undefined> {
  return readJsonFile<StoredImage>(paths.record(id));
}

export async function allRecords(): Promise<StoredImage[]> {
  let names: string[];
  try {
    names = await readdir(join(storeDir(), 'records'));
  } catch (e) {
    if (hasErrno(e, 'ENOENT')) return [];
    throw e;
  }
  const out: StoredImage[] = [];
  for (const n of names) {
    if (!/^[0-9a-f]{64}\.json$/.test(n)) continue;
    const r = await readRecord(`sha256:${n.slice(0, 64)}`);
    if (r) out.push(r);
  }
  return out;
}

/** name:tag of an index entry, or undefined for untagged manifests. */
export function refOf(d: Descriptor): string | undefined {
  return d.annotations?.[REF_ANNOTATION];
}
