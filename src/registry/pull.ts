import { createReadStream, createWriteStream, existsSync } from 'node:fs';
import { rename, stat, truncate, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createHash } from 'node:crypto';
import { VesselError, errorMessage, hasErrno, isVesselError, withLock, config } from '../util/index.js';
import { commitPulledImage, hasBlob, hostArchitecture, hostOs, hasLayer, imagesDir, pullDir, removePullDir, tagExisting, type Descriptor, type OciImageConfig, type PulledLayer } from '../image/index.js';
import type { Digest, ImageRecord, ImageRef } from '../image/index.js';
import type { FetchedManifest, Registry } from './transport.js';
import { isTransient, withRetry } from './retry.js';
import { DigestCheck, readSmall } from './verify.js';
import { silentReporter, type Reporter } from './progress.js';
import { loadPublicKey, verifyDigest } from './sign.js';

export const MANIFEST_TYPES = {
  ociManifest: 'application/vnd.oci.image.manifest.v1+json',
  ociIndex: 'application/vnd.oci.image.index.v1+json',
  dockerManifest: 'application/vnd.docker.distribution.manifest.v2+json',
  dockerList: 'application/vnd.docker.distribution.manifest.list.v2+json',
};
const MAX_CONFIG = 4 * 1024 * 1024;

export interface PullOptions {
  /** PEM Ed25519 public key: refuse images not signed by it. */
  verifyKey?: string;
  reporter?: Reporter;
}

export interface PullResult {
  image: ImageRecord;
  digest: Digest;
  fetched: number;
  skipped: number;
  bytes: number;
}

interface Manifest {
  mediaType?: string;
  config?: Descriptor;
  layers?: Descriptor[];
  manifests?: Array<Descriptor & { platform?: { os?: string; architecture?: string } }>;
}

/** The image of an index this host runs: the store's own notion of the host's os/arch (one helper). */
function platform(): { os: string; architecture: string } {
  return { os: hostOs(), architecture: hostArchitecture() };
}

function parseManifest(where: string, m: FetchedManifest): Manifest {
  try {
    return JSON.parse(m.text) as Manifest;
  } catch (e) {
    throw new VesselError('E_REGISTRY', `${where}: manifest ${m.digest} is not valid JSON (${errorMessage(e)})`);
  }
}

/**
 * `vessel pull URL/NAME:TAG`: the manifest (and signature when asked), then only the blobs the
 * store lacks, each verified against its digest while it streams to a pull directory inside
 * the store; then one commit (unpack in staging, check diff ids, rename, tag last). A failed
 * check or a full disk removes what this pull fetched; a dropped connection keeps the verified
 * blobs and the partial one, so a rerun fetches only what is missing.
 */
export async function pull(reg: Registry, name: string, tag: string, local: ImageRef, opts: PullOptions = {}): Promise<PullResult> {
  const rep = opts.reporter ?? silentReporter;
  const started = Date.now();
  const where = `${reg.display}/${name}:${tag}`;
  const pub = opts.verifyKey ? loadPublicKey(opts.verifyKey) : undefined;
  const retry = (what: string) => ({ what, where: reg.display, onRetry: (attempt: number, e: unknown) => rep.emit({ event: 'retry', what, attempt, reason: errorMessage(e) }) });

  let top = await withRetry(() => reg.getManifest(name, tag), retry(`read ${name}:${tag}`));
  if (!top) throw new VesselError('E_NOT_FOUND', `${where}: no such image`, { hint: `vessel tags ${reg.display}/${name} lists its tags` });
  if (pub) verifyDigest(where, top.digest, await withRetry(() => reg.getSignature(name, top!.digest), retry('read signature')), pub);
  let m = parseManifest(where, top);
  if (m.mediaType === MANIFEST_TYPES.ociIndex || m.mediaType === MANIFEST_TYPES.dockerList || (Array.isArray(m.manifests) && !m.layers)) {
    const p = platform();
    const list = m.manifests ?? [];
    const mine = list.find((x) => x.platform?.os === p.os && x.platform?.architecture === p.architecture) ?? (list.length === 1 ? list[0] : undefined);
    if (!mine) throw new VesselError('E_REGISTRY', `${where}: no image for ${p.os}/${p.architecture} in its index`);
    const inner = await withRetry(() => reg.getManifest(name, mine.digest), retry(`read manifest ${mine.digest}`));
    if (!inner || inner.digest !== mine.digest) throw new VesselError('E_REGISTRY', `${where}: manifest ${mine.digest} named by its index is missing`);
    top = inner;
    m = parseManifest(where, inner);
  }
  if (m.mediaType !== undefined && m.mediaType !== MANIFEST_TYPES.ociManifest && m.mediaType !== MANIFEST_TYPES.dockerManifest) {
    throw new VesselError('E_REGISTRY', `${where}: unsupported manifest type ${m.mediaType}`);
  }
  const manifest = top;
  if (!m.config || !Array.isArray(m.layers)) throw new VesselError('E_REGISTRY', `${where}: manifest ${manifest.digest} has no config or layers`);
  const cfgDesc = m.config;
  const layers = m.layers;

  const cfgBuf = await withRetry(async () => {
    const check = new DigestCheck(cfgDesc.digest, cfgDesc.size, `${where}: config ${cfgDesc.digest}`);
    return readSmall((await reg.getBlob(name, cfgDesc.digest)).pipe(check), MAX_CONFIG);
  }, retry(`read config ${cfgDesc.digest}`));
  const configText = cfgBuf.toString('utf8');
  let cfg: OciImageConfig;
  try {
    cfg = JSON.parse(configText) as OciImageConfig;
  } catch (e) {
    throw new VesselError('E_REGISTRY', `${where}: config ${cfgDesc.digest} is not valid JSON (${errorMessage(e)})`);
  }
  const diffIds = cfg.rootfs?.diff_ids;
  if (!Array.isArray(diffIds) || diffIds.length !== layers.length) {
    throw new VesselError('E_REGISTRY', `${where}: config's rootfs.diff_ids do not match the ${layers.length} layers of the manifest`);
  }

  const total = layers.reduce((a, l) => a + l.size, 0);
  rep.emit({ event: 'start', op: 'pull', image: `${name}:${tag}`, registry: reg.display, total, blobs: layers.length });
  const existing = await tagExisting(cfgDesc.digest, local);
  if (existing) {
    rep.bytes(total);
    rep.emit({ event: 'done', op: 'pull', image: `${name}:${tag}`, digest: manifest.digest, transferred: 0, skipped: layers.length, seconds: (Date.now() - started) / 1000 });
    rep.finish();
    return { image: existing, digest: manifest.digest, fetched: 0, skipped: layers.length, bytes: 0 };
  }

  const key = manifest.digest.slice(7);
  return withLock(join(config().run, 'locks', `pull-${key.slice(0, 32)}.lock`), async () => {
    const dir = await pullDir(key);
    let keep = false;
    try {
      const pulled: PulledLayer[] = [];
      let fetched = 0;
      let skipped = 0;
      let bytes = 0;
      for (const [i, l] of layers.entries()) {
        const diffId = diffIds[i] as Digest;
        if (hasLayer(diffId) && hasBlob(l.digest)) {
          skipped++;
          rep.bytes(l.size);
          rep.emit({ event: 'blob', digest: l.digest, size: l.size, action: 'skip' });
          pulled.push({ desc: l, diffId, file: undefined });
          continue;
        }
        const r = await download(reg, name, l, dir, `${where}: layer ${l.digest}`, rep, retry(`download layer ${l.digest}`));
        if (r.fetched > 0) fetched++;
        else skipped++;
        bytes += r.fetched;
        pulled.push({ desc: l, diffId, file: r.file });
      }
      const image = await commitPulledImage({ manifestText: manifest.text, configText, config: cfg, layers: pulled, ref: local, source: where });
      rep.emit({ event: 'done', op: 'pull', image: `${name}:${tag}`, digest: manifest.digest, transferred: bytes, skipped, seconds: (Date.now() - started) / 1000 });
      rep.finish();
      return { image, digest: manifest.digest, fetched, skipped, bytes };
    } catch (e) {
      // Only a network failure is worth resuming; anything else (tampering, a full disk, a
      // corrupt layer) must leave the store exactly as it was.
      keep = isVesselError(e) && e.code === 'E_REGISTRY' && isTransient(e.cause);
      if (isNoSpace(e)) {
        throw new VesselError('E_IMAGE', `${imagesDir()}: no space left on device while pulling ${where}; nothing was stored`, { hint: 'free space in the image store (vessel image prune) or move it (APPC_IMAGE_DIR)', cause: e });
      }
      throw e;
    } finally {
      if (!keep) await removePullDir(dir);
    }
  }, { what: `pull of ${name}:${tag}`, timeoutMs: 600_000 });
}

function isNoSpace(e: unknown): boolean {
  for (let c: unknown = e; c; c = (c as { cause?: unknown }).cause) {
    if (hasErrno(c, 'ENOSPC') || hasErrno(c, 'EDQUOT') || /ENOSPC|No space left on device/.test(errorMessage(c))) return true;
    if (c === (c as { cause?: unknown }).cause) break;
  }
  return false;
}

/**
 * Fetch one blob into `dir`, verified. A complete earlier download (file named by its hex) is
 * reused; a partial one (.part) is resumed from its size, its bytes re-hashed first.
 */
async function download(
  reg: Registry, name: string, d: Descriptor, dir: string, what: string, rep: Reporter,
  retry: Parameters<typeof withRetry>[1],
): Promise<{ file: string; fetched: number }> {
  const final = join(dir, d.digest.slice(7));
  if (existsSync(final)) {
    rep.bytes(d.size);
    rep.emit({ event: 'blob', digest: d.digest, size: d.size, action: 'skip' });
    return { file: final, fetched: 0 };
  }
  const part = `${final}.part`;
  let fetched = 0;
  let counted = 0;
  await withRetry(async () => {
    let offset = (await stat(part).catch(() => undefined))?.size ?? 0;
    if (offset > d.size) {
      await truncate(part, 0);
      offset = 0;
    }
    const hash = createHash('sha256');
    if (offset > 0) for await (const c of createReadStream(part) as AsyncIterable<Buffer>) hash.update(c);
    rep.bytes(offset - counted);
    counted = offset;
    rep.emit({ event: 'blob', digest: d.digest, size: d.size, action: offset > 0 ? 'resume' : 'download' });
    const src = await reg.getBlob(name, d.digest, offset > 0 ? { offset } : undefined);
    const check = new DigestCheck(d.digest, d.size, what, { hash, bytes: offset });
    const count = new Transform({
      highWaterMark: 1 << 20,
      transform(c: Buffer, _e, cb) {
        fetched += c.length;
        counted += c.length;
        rep.bytes(c.length);
        cb(null, c);
      },
    });
    try {
      await pipeline(src, check, count, createWriteStream(part, { flags: offset > 0 ? 'a' : 'w', highWaterMark: 1 << 20 }));
    } catch (e) {
      // A mismatch is final: the partial file must not seed the next attempt.
      if (isVesselError(e)) await unlink(part).catch(() => undefined);
      throw e;
    }
  }, retry);
  await rename(part, final);
  rep.emit({ event: 'blob', digest: d.digest, size: d.size, action: 'done' });
  return { file: final, fetched };
}
