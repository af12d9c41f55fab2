import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream, type Stats } from 'node:fs';
import { constants, copyFile, lstat, mkdir, stat, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { PassThrough, type Readable } from 'node:stream';
import { createGzip } from 'node:zlib';
import { host, stderrOf, writeJsonAtomic, VesselError, hasErrno } from '../util/index.js';
import { detectCompression, readHead, type Compression } from './compression.js';
import { extractTarFile, extractTarStream, type ExtractResult } from './extract.js';
import { finished } from './streams.js';
import { tarStreamLib } from './retar.js';
import { printableText } from './tar-headers.js';
import { tarForms } from './tar-forms.js';
import {
  MEDIA_LAYER_BZIP2, MEDIA_LAYER_GZIP, MEDIA_LAYER_TAR, MEDIA_LAYER_XZ, MEDIA_LAYER_ZSTD,
  commitPath, paths, type Descriptor,
} from './store.js';
import type { Digest } from './types.js';
import type { ExternalLink, ExtractLimits } from './validate.js';

export interface Progress {
  /** Bytes of the input read so far. */
  done: number;
  /** Size of the input in bytes. */
  total: number;
}

export const LAYER_MEDIA: Record<Compression, string> = {
  none: MEDIA_LAYER_TAR,
  gzip: MEDIA_LAYER_GZIP,
  zstd: MEDIA_LAYER_ZSTD,
  xz: MEDIA_LAYER_XZ,
  bzip2: MEDIA_LAYER_BZIP2,
};

/** A layer unpacked (and its blob kept) inside a staging directory, not yet in the store. */
export interface StagedLayer {
  blob: Descriptor;
  diffId: Digest;
  /** Bytes of file content. */
  size: number;
  blobPath: string;
  layerDir: string;
  /** Paths this layer deletes from the layers below (OCI whiteouts), and directories it makes opaque. */
  deletes?: LayerDeletes;
  /** Hard links to lower layers' files, unpacked as placeholders until linkLowerFiles() fills them in. */
  links?: ExternalLink[];
}

export interface LayerDeletes {
  whiteouts: string[];
  opaqueDirs: string[];
}

/** Whiteout marker paths (dir/.wh.name) → the paths they delete (dir/name). */
export function deletesOf(r: ExtractResult): LayerDeletes | undefined {
  if (r.whiteouts.length === 0 && r.opaqueDirs.length === 0) return undefined;
  return { whiteouts: r.whiteouts.map((w) => w.replace(/(^|\/)\.wh\.([^/]+)$/, '$1$2')), opaqueDirs: [...r.opaqueDirs] };
}

/** The deletions recorded beside an unpacked layer (needed where there is no overlayfs). */
export async function readLayerDeletes(diffId: Digest): Promise<LayerDeletes> {
  const { readJsonFile } = await import('../util/index.js');
  return (await readJsonFile<LayerDeletes>(`${paths.layer(diffId)}.json`)) ?? { whiteouts: [], opaqueDirs: [] };
}

export interface StageOptions {
  /** What the user knows the input as, for messages. */
  source?: string;
  limits?: Partial<ExtractLimits>;
  onProgress?: (p: Progress) => void;
  /**
   * An OCI layer (a diff over the layers below): whiteout files are recorded as deletions (and on
   * Linux turned into overlay whiteouts), hard links to lower layers' files become placeholders.
   */
  whiteouts?: boolean;
  /** Hard links to files of lower layers become placeholders (default: as `whiteouts`; appc dependencies). */
  lowerLinks?: boolean;
  /** Keep the input's bytes as the layer blob (false: only unpack, e.g. an outer archive). */
  keepBlob?: boolean;
  /** Stops the unpacking (the caller went away); staging is the caller's to drop. */
  signal?: AbortSignal;
  /** As ExtractOptions.stopAt: an entry name that says the input is something else. */
  stopAt?: (name: string) => Error | undefined;
}

/** Whether hard links to files of lower layers may be unpacked (as placeholders): decided here only. */
export function lowerLinksAllowed(opts: Pick<StageOptions, 'whiteouts' | 'lowerLinks'>): boolean {
  return opts.lowerLinks ?? opts.whiteouts ?? false;
}

let counter = 0;

/** The file's stat, refused as one line when it is missing or not a regular file. */
async function regularFile(file: string): Promise<Stats> {
  try {
    const st = await stat(file);
    if (!st.isFile()) throw new VesselError('E_ARCHIVE', `${file}: not a regular file`);
    return st;
  } catch (e) {
    if (hasErrno(e, 'ENOENT')) throw new VesselError('E_NOT_FOUND', `${file}: no such file`);
    throw e;
  }
}

export async function fileSize(file: string): Promise<number> {
  return (await regularFile(file)).size;
}

/**
 * Unpack one (possibly compressed) layer tarball from `file` into `staging`: the file's bytes are
 * kept as the layer blob, its tar unpacked beside it, streamed (memory stays flat). No byte of it
 * passes through JavaScript: the native gate reads the file (or its decompressor does, for the
 * gate), hashes the plain tar (the diff id), judges and unpacks it, and hashes a compressed file
 * too (its blob digest: native/gate/blob.h says why there); the kernel copies the file into the
 * blob beside that. Nothing reaches the store until commitLayers(), which the caller runs only
 * when every layer of the image staged.
 */
export async function stageLayerFile(file: string, staging: string, opts: StageOptions = {}): Promise<StagedLayer> {
  // Its size and mtime now, against the same after the import: the file must not change meanwhile.
  const before = await regularFile(file);
  const total = before.size;
  const source = opts.source ?? file;
  const kind = detectCompression(await readHead(file, 8));
  const n = ++counter;
  const layerDir = join(staging, `layer-${n}`);
  await mkdir(layerDir, { mode: 0o755 });
  const blobPath = join(staging, `blob-${n}`);
  const keepBlob = opts.keepBlob !== false;
  // The bar follows the input file: as the decompressor reads it, or as the gate reads a plain tar.
  const onRead = (stream: number, input: number | undefined) => opts.onProgress?.({ done: Math.min(input ?? stream, total), total });
  const hashFile = keepBlob && kind !== 'none';
  // The gate first, started synchronously (extractTarFile): its decompressor is the import's
  // longest stage. The blob's copy after it: started before, in libuv's thread pool, it held up
  // the gate's own open (seen: 5 ms) and took a core while the gate was being spawned.
  const extracting = extractTarFile(file, kind, layerDir, { source, limits: opts.limits ?? {}, externalLinks: lowerLinksAllowed(opts), onRead, ...(hashFile ? { blobDigest: true } : {}), ...(opts.signal ? { signal: opts.signal } : {}), ...(opts.stopAt ? { stopAt: opts.stopAt } : {}) });
  // A copy made by the kernel (a reflink where the file system has them, else copy_file_range,
  // in a thread of Node's pool): no JavaScript time, and where writing fresh page cache stalls
  // (blob.h), the stall stops nothing else. The file must not change meanwhile (checked below).
  const blobCopy = keepBlob ? copyFile(file, blobPath, constants.COPYFILE_FICLONE) : Promise.resolve();
  // Both settle first, whichever fails: a staging dropped while the copy still writes into it
  // would come back.
  const [extracted, copied] = await Promise.allSettled([extracting, blobCopy]);
  if (extracted.status === 'rejected') throw extracted.reason;
  if (copied.status === 'rejected') throw copied.reason;
  const result = extracted.value;
  const after = await stat(file);
  const hashed = result.blob?.bytes ?? after.size;
  if (after.size !== before.size || after.mtimeMs !== before.mtimeMs || hashed !== after.size) {
    throw new VesselError('E_ARCHIVE', `${source}: the file changed while it was being imported`);
  }
  opts.onProgress?.({ done: total, total });
  // A plain tar is its own blob (the diff id is its digest). Without a kept blob (an outer
  // archive, a build's ADD) the layer is described as its plain stream, which is what it unpacked.
  // With blobDigest, extractTarFile resolves only with the file's digest (extract.ts).
  const digest = hashFile ? result.blob!.digest : result.diffId;
  const blob: Descriptor = keepBlob ? { mediaType: LAYER_MEDIA[kind], digest, size: after.size } : { mediaType: LAYER_MEDIA.none, digest: result.diffId, size: result.streamBytes };
  return finishStaged(result, { blob, blobPath, layerDir, source, whiteouts: opts.whiteouts ?? false });
}

/**
 * A layer whose stream was read to its end and judged whole: whiteouts put in the OS's form, and
 * the staged layer described (shared by file imports, in-process streams and pulls).
 */
export async function finishStaged(result: ExtractResult, l: { blob: Descriptor; blobPath: string; layerDir: string; source: string; whiteouts: boolean }): Promise<StagedLayer> {
  if (l.whiteouts) await applyWhiteouts(l.layerDir, result, l.source);
  const deletes = l.whiteouts ? deletesOf(result) : undefined;
  const links = result.externalLinks.length ? result.externalLinks : undefined;
  return { blob: l.blob, diffId: result.diffId, size: result.bytes, blobPath: l.blobPath, layerDir: l.layerDir, ...(deletes ? { deletes } : {}), ...(links ? { links } : {}) };
}

/**
 * Unpack a tar stream produced in-process (an ACI's rootfs, an ISO through bsdtar) as a layer;
 * its blob is the plain tar, gzip-compressed on the way.
 */
export async function stageLayerStream(tar: Readable, staging: string, opts: StageOptions & { upstream?: Promise<void>; source: string }): Promise<StagedLayer> {
  // Wired before the first await: a flowing source would otherwise lose its first chunks.
  const gz = createGzip({ level: 1 });
  const tee = new PassThrough({ highWaterMark: 1 << 20 });
  const blobHash = createHash('sha256');
  const gzChunks: Buffer[] = [];
  let size = 0;
  let blobOut: ReturnType<typeof createWriteStream> | undefined;
  gz.on('data', (c: Buffer) => {
    blobHash.update(c);
    size += c.length;
    if (!blobOut) {
      gzChunks.push(c);
      return;
    }
    if (blobOut.destroyed) return;
    if (!blobOut.write(c)) {
      gz.pause();
      blobOut.once('drain', () => gz.resume());
    }
  });
  const gzDone = new Promise<void>((res, rej) => { gz.once('end', res); gz.once('error', rej); });
  gzDone.catch(() => undefined);
  tar.on('data', (c: Buffer) => {
    const a = tee.write(c);
    const b = gz.write(c);
    if (!a || !b) {
      tar.pause();
      let waiting = (a ? 0 : 1) + (b ? 0 : 1);
      const resume = () => { if (--waiting === 0) tar.resume(); };
      if (!a) tee.once('drain', resume);
      if (!b) gz.once('drain', resume);
    }
  });
  tar.once('end', () => { tee.end(); gz.end(); });
  tar.once('error', (e) => tee.destroy(e));

  const n = ++counter;
  const layerDir = join(staging, `layer-${n}`);
  await mkdir(layerDir, { mode: 0o755 });
  const blobPath = join(staging, `blob-${n}`);
  blobOut = createWriteStream(blobPath, { mode: 0o644 });
  blobOut.on('error', () => undefined); // reported by finished(); after an abort, expected
  for (const c of gzChunks.splice(0)) blobOut.write(c);
  let result: ExtractResult;
  try {
    result = await extractTarStream(tee, layerDir, { source: opts.source, limits: opts.limits ?? {}, externalLinks: lowerLinksAllowed(opts), ...(opts.upstream ? { upstream: opts.upstream } : {}), ...(opts.signal ? { signal: opts.signal } : {}) });
  } catch (e) {
    tar.destroy();
    gz.destroy();
    blobOut.destroy();
    throw e;
  }
  await gzDone;
  blobOut.end();
  await finished(blobOut);
  const blob: Descriptor = { mediaType: MEDIA_LAYER_GZIP, digest: `sha256:${blobHash.digest('hex')}`, size };
  return finishStaged(result, { blob, blobPath, layerDir, source: opts.source, whiteouts: opts.whiteouts ?? false });
}

/** Move staged layers and their blobs into the store (content-addressed, so idempotent). */
export async function commitLayers(layers: StagedLayer[]): Promise<void> {
  for (const l of layers) {
    await commitPath(l.blobPath, paths.blob(l.blob.digest));
    // Written before the directory appears: a layer visible in the store always has its record.
    if (l.deletes) writeJsonAtomic(`${paths.layer(l.diffId)}.json`, l.deletes);
    await commitPath(l.layerDir, paths.layer(l.diffId));
  }
}

/**
 * OCI layers mark deletions with files (".wh.NAME", and ".wh..wh..opq" for "hide everything
 * below from lower layers"). The markers are removed; the layer's record (deletesOf, written
 * beside it) keeps the deletions either way. On Linux overlayfs also wants them in its own form,
 * a 0/0 character device NAME and the directory xattr trusted.overlay.opaque=y, written by GNU tar
 * from a small generated archive so device nodes and xattrs go through the same writer as
 * everything else. FreeBSD has no such form (tar-forms.ts overlayWhiteouts): the record alone.
 */
export async function applyWhiteouts(layerDir: string, r: ExtractResult, source: string): Promise<void> {
  if (r.whiteouts.length === 0 && r.opaqueDirs.length === 0) return;
  const overlayForm = tarForms().overlayWhiteouts;
  if (overlayForm !== undefined && typeof process.getuid === 'function' && process.getuid() !== 0) {
    throw new VesselError('E_UNSUPPORTED', `${source}: layer has whiteouts; unpacking them for overlayfs needs root`);
  }
  // The markers go on every OS; the deletions recorded beside the layer (deletesOf) stay.
  for (const w of r.whiteouts) await unlink(join(layerDir, w));
  const opaque: Array<{ dir: string; st: Stats }> = [];
  for (const dir of r.opaqueDirs) {
    await unlink(join(layerDir, dir, '.wh..wh..opq'));
    const st = await lstat(join(layerDir, dir));
    if (!st.isDirectory()) throw new VesselError('E_ARCHIVE', `${source}: entry "${printableText(dir)}/.wh..wh..opq": opaque marker outside a directory`);
    opaque.push({ dir, st });
  }
  // FreeBSD has no overlayfs: the record alone, applied when layers are stacked (flattenInto, the ZFS chain).
  if (overlayForm === undefined) return;
  const devices: string[] = [];
  for (const w of r.whiteouts) {
    const slash = w.lastIndexOf('/');
    const dir = slash < 0 ? '' : w.slice(0, slash);
    const name = w.slice(slash + 1).slice('.wh.'.length);
    const path = dir ? `${dir}/${name}` : name;
    // The layer's own entry of that name (a directory replaced by a file or the reverse: OCI
    // whiteouts hide the layers below only) stays: overlayfs shows an upper non-directory over
    // anything, and an upper directory over a lower one only once it is opaque.
    const own = await lstat(join(layerDir, path)).catch(() => undefined);
    if (own === undefined) devices.push(path);
    else if (own.isDirectory() && !opaque.some((o) => o.dir === path)) opaque.push({ dir: path, st: own });
  }
  const pack = tarStreamLib().pack();
  const child = host().spawn(overlayForm(layerDir), { stdio: ['pipe', 'ignore', 'pipe'] });
  const stderr = stderrOf(child);
  pack.pipe(child.pipes[0] as NodeJS.WritableStream);
  for (const path of devices) {
    pack.entry({ name: path, type: 'character-device', mode: 0o000, uid: 0, gid: 0, devmajor: 0, devminor: 0, mtime: new Date(0) });
  }
  for (const { dir, st } of opaque) {
    pack.entry({ name: dir || '.', type: 'directory', mode: st.mode & 0o7777, uid: st.uid, gid: st.gid, mtime: st.mtime, pax: { 'SCHILY.xattr.trusted.overlay.opaque': 'y' } });
  }
  pack.finalize();
  const { code } = await child.exited;
  if (code === 0) return;
  await stderr.done();
  throw new VesselError('E_ARCHIVE', `${source}: writing overlay whiteouts failed: ${printableText(stderr.last())}`);
}
