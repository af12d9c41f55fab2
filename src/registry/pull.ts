import { pipeline as chain } from 'node:stream';
import { VesselError, errorMessage, hasErrno, isVesselError, withLock } from '../util/index.js';
import { commitPulledImage, hasBlob, hostArchitecture, hostOs, hasLayer, imagesDir, pullDir, pullLockPath, dropIdlePullDir, removePullDir, tagExisting, type Descriptor, type OciImageConfig, type PulledLayer, type StagedLayer } from '../image/index.js';
import type { Digest, ImageRecord, ImageRef } from '../image/index.js';
import { onAbort, type FetchedManifest, type Registry } from './transport.js';
import { isResumable, withRetry, type RetryOptions } from './retry.js';
import { fetchLayer } from './layer-fetch.js';
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
  /**
   * Stops the pull (its caller went away) as a killed CLI would be stopped: what was fetched and
   * verified stays for a rerun, nothing becomes visible.
   */
  signal?: AbortSignal;
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

interface Context {
  reg: Registry;
  name: string;
  tag: string;
  where: string;
  rep: Reporter;
  /** Retry options for `what`; they stop at the caller's signal (the downloads' own stop is stricter: fetchLayers). */
  retry: (what: string) => RetryOptions;
  signal?: AbortSignal;
}

/** What the registry says the image is: its manifest (the platform's, from an index). */
interface Resolved {
  manifest: FetchedManifest;
  layers: Descriptor[];
  config: Descriptor;
}

/** The image's config, verified, parsed and checked against the manifest's layers. */
interface Config {
  text: string;
  config: OciImageConfig;
  diffIds: Digest[];
}

/**
 * `vessel pull URL/NAME:TAG`, in phases: resolve the manifest (and check its signature when
 * asked), read the config, and unless the store already has the image, fetch the layers the
 * store lacks — several at once where the registry allows it, each unpacked while it downloads
 * into a pull directory inside the store — then commit them all, the tag last. A failed check or
 * a full disk removes what this pull fetched; a dropped connection keeps the verified blobs and
 * the partial one, so a rerun fetches only what is missing.
 */
export async function pull(reg: Registry, name: string, tag: string, local: ImageRef, opts: PullOptions = {}): Promise<PullResult> {
  const rep = opts.reporter ?? silentReporter;
  const started = Date.now();
  const where = `${reg.display}/${name}:${tag}`;
  const retry = (what: string): RetryOptions => ({ what, where: reg.display, signal: opts.signal, onRetry: (attempt: number, e: unknown) => rep.emit({ event: 'retry', what, attempt, reason: errorMessage(e) }) });
  const ctx: Context = { reg, name, tag, where, rep, retry, ...(opts.signal ? { signal: opts.signal } : {}) };

  const r = await resolve(ctx, opts.verifyKey);
  const configDigest = r.config.digest;
  const total = r.layers.reduce((a, l) => a + l.size, 0);
  rep.emit({ event: 'start', op: 'pull', image: `${name}:${tag}`, registry: reg.display, total, blobs: r.layers.length });
  const finish = (image: ImageRecord, fetched: number, skipped: number, bytes: number): PullResult => {
    rep.emit({ event: 'done', op: 'pull', image: `${name}:${tag}`, digest: r.manifest.digest, transferred: bytes, skipped, seconds: (Date.now() - started) / 1000 });
    rep.finish();
    return { image, digest: r.manifest.digest, fetched, skipped, bytes };
  };
  opts.signal?.throwIfAborted();
  const existing = await tagExisting(configDigest, local);
  const key = r.manifest.digest.slice(7);
  if (existing) {
    // A run SIGKILLed between committing this image and removing its directory left one behind.
    await dropIdlePullDir(key);
    rep.bytes(total);
    return finish(existing, 0, r.layers.length, 0);
  }
  // One pull of a manifest at a time; a caller that goes away while another holds it stops waiting.
  return withLock(pullLockPath(key), async () => {
    const dir = await pullDir(key);
    let keep = false;
    // Every download of the pull (the config's, the layers') stops at once, wherever it waits, at
    // the first failure or when the caller goes away; each then fails with this signal's reason.
    const stop = new AbortController();
    const unwatch = onAbort(opts.signal, (reason) => stop.abort(reason));
    try {
      // The config is read while the layers download: a layer needs its diff id only at its end.
      const cfg = readConfig(ctx, r, stop.signal);
      cfg.catch((e: unknown) => stop.abort(e));
      const got = await fetchLayers(ctx, r, dir, cfg, stop);
      const c = await cfg;
      // the last moment to stop: after it the image is committed whole
      opts.signal?.throwIfAborted();
      const image = await commitPulledImage({ manifestText: r.manifest.text, configText: c.text, config: c.config, layers: got.layers, ref: local, source: where });
      return finish(image, got.fetched, got.skipped, got.bytes);
    } catch (e) {
      // Only a network failure (or a caller that stopped) is worth resuming; anything else must
      // leave the store exactly as it was.
      keep = isResumable(e) || opts.signal?.aborted === true;
      if (isNoSpace(e)) {
        throw new VesselError('E_IMAGE', `${imagesDir()}: no space left on device while pulling ${where}; nothing was stored`, { hint: 'free space in the image store (vessel image prune) or move it (APPC_IMAGE_DIR)', cause: e });
      }
      throw e;
    } finally {
      unwatch();
      if (!keep) await removePullDir(dir);
    }
  }, { what: `pull of ${name}:${tag}`, timeoutMs: 600_000, ...(opts.signal ? { signal: opts.signal } : {}) });
}

/** Phase 1: the manifest for this platform (through an index), its signature, and the config. */
async function resolve(ctx: Context, verifyKey: string | undefined): Promise<Resolved> {
  const { reg, name, tag, where, retry } = ctx;
  const pub = verifyKey ? loadPublicKey(verifyKey) : undefined;
  const reading = { signal: ctx.signal };
  let top = await withRetry(() => reg.getManifest(name, tag, reading), retry(`read ${name}:${tag}`));
  if (!top) throw new VesselError('E_NOT_FOUND', `${where}: no such image`, { hint: `vessel tags ${reg.display}/${name} lists its tags` });
  if (pub) verifyDigest(where, top.digest, await withRetry(() => reg.getSignature(name, top!.digest, reading), retry('read signature')), pub);
  let m = parseManifest(where, top);
  if (m.mediaType === MANIFEST_TYPES.ociIndex || m.mediaType === MANIFEST_TYPES.dockerList || (Array.isArray(m.manifests) && !m.layers)) {
    const p = platform();
    const list = m.manifests ?? [];
    const mine = list.find((x) => x.platform?.os === p.os && x.platform?.architecture === p.architecture) ?? (list.length === 1 ? list[0] : undefined);
    if (!mine) throw new VesselError('E_REGISTRY', `${where}: no image for ${p.os}/${p.architecture} in its index`);
    const inner = await withRetry(() => reg.getManifest(name, mine.digest, reading), retry(`read manifest ${mine.digest}`));
    if (!inner || inner.digest !== mine.digest) throw new VesselError('E_REGISTRY', `${where}: manifest ${mine.digest} named by its index is missing`);
    top = inner;
    m = parseManifest(where, inner);
  }
  if (m.mediaType !== undefined && m.mediaType !== MANIFEST_TYPES.ociManifest && m.mediaType !== MANIFEST_TYPES.dockerManifest) {
    throw new VesselError('E_REGISTRY', `${where}: unsupported manifest type ${m.mediaType}`);
  }
  if (!m.config || !Array.isArray(m.layers)) throw new VesselError('E_REGISTRY', `${where}: manifest ${top.digest} has no config or layers`);
  return { manifest: top, layers: m.layers, config: m.config };
}

/**
 * The config blob, verified, parsed, and with one diff id per layer of the manifest. `signal`
 * (the pull's stop) ends its read as it ends the layers'.
 */
async function readConfig(ctx: Context, r: Resolved, signal: AbortSignal): Promise<Config> {
  const d = r.config;
  const buf = await withRetry(async () => {
    const check = new DigestCheck(d.digest, d.size, `${ctx.where}: config ${d.digest}`);
    // Chained, not piped: the source's failure (a cut connection, the abort) must reach the reader.
    const src = await ctx.reg.getBlob(ctx.name, d.digest, { signal });
    return readSmall(chain(src, check, () => undefined), MAX_CONFIG, `${ctx.where}: config ${d.digest}`);
  }, { ...ctx.retry(`read config ${d.digest}`), signal });
  const text = buf.toString('utf8');
  let config: OciImageConfig;
  try {
    config = JSON.parse(text) as OciImageConfig;
  } catch (e) {
    throw new VesselError('E_REGISTRY', `${ctx.where}: config ${d.digest} is not valid JSON (${errorMessage(e)})`);
  }
  const diffIds = config.rootfs?.diff_ids;
  if (!Array.isArray(diffIds) || diffIds.length !== r.layers.length) {
    throw new VesselError('E_REGISTRY', `${ctx.where}: config's rootfs.diff_ids do not match the ${r.layers.length} layers of the manifest`);
  }
  return { text, config, diffIds: diffIds as Digest[] };
}

/**
 * Phase 2: every layer the store lacks, `reg.parallel` at a time, each downloaded, verified and
 * unpacked in one pass (layer-fetch.ts). A layer whose blob the store lacks starts at once, before
 * the config has arrived; one whose blob is here waits for the config's diff id to know whether
 * its unpacked tree is here too. A layer the manifest names twice is fetched once. The first
 * failure (a layer's, or the config's: pull() aborts `stop` for that one, and for a caller gone)
 * stops the others at once — mid-transfer, a stalled one too — and is what the pull reports,
 * once every download has let go of the pull directory.
 */
async function fetchLayers(ctx: Context, r: Resolved, dir: string, cfg: Promise<Config>, stop: AbortController): Promise<{ layers: PulledLayer[]; fetched: number; skipped: number; bytes: number }> {
  let fetched = 0;
  let skipped = 0;
  let bytes = 0;
  const jobs = new Map<Digest, { desc: Descriptor; diffId: Promise<Digest>; staged?: StagedLayer }>();
  const layers: Array<{ desc: Descriptor; diffId: Promise<Digest> }> = [];
  for (const [i, l] of r.layers.entries()) {
    const diffId = cfg.then((c) => c.diffIds[i]!);
    diffId.catch(() => undefined);
    layers.push({ desc: l, diffId });
    if (!jobs.has(l.digest)) jobs.set(l.digest, { desc: l, diffId });
  }
  const queue = [...jobs.values()];
  const worker = async (): Promise<void> => {
    for (let job = queue.shift(); job && !stop.signal.aborted; job = queue.shift()) {
      try {
        if (hasBlob(job.desc.digest) && hasLayer(await job.diffId)) {
          skipped++;
          ctx.rep.bytes(job.desc.size);
          ctx.rep.emit({ event: 'blob', digest: job.desc.digest, size: job.desc.size, action: 'skip' });
          continue;
        }
        const what = `${ctx.where}: layer ${job.desc.digest}`;
        const got = await fetchLayer({ reg: ctx.reg, name: ctx.name, desc: job.desc, diffId: job.diffId, dir, what, rep: ctx.rep, retry: ctx.retry(`download layer ${job.desc.digest}`), signal: stop.signal });
        job.staged = got.staged;
        if (got.fetched > 0) fetched++;
        else skipped++;
        bytes += got.fetched;
      } catch (e) {
        if (!stop.signal.aborted) stop.abort(e);
        throw e;
      }
    }
  };
  const n = Math.max(1, Math.min(ctx.reg.parallel ?? 1, queue.length));
  await Promise.allSettled(Array.from({ length: n }, worker));
  // The first failure, not what the others said when it stopped them.
  if (stop.signal.aborted) throw stop.signal.reason;
  const c = await cfg;
  return { layers: r.layers.map((desc, i) => ({ desc, diffId: c.diffIds[i]!, staged: jobs.get(desc.digest)?.staged })), fetched, skipped, bytes };
}

function isNoSpace(e: unknown): boolean {
  for (let c: unknown = e; c; c = (c as { cause?: unknown }).cause) {
    if (hasErrno(c, 'ENOSPC') || hasErrno(c, 'EDQUOT') || /ENOSPC|No space left on device/.test(errorMessage(c))) return true;
    if (c === (c as { cause?: unknown }).cause) break;
  }
  return false;
}
