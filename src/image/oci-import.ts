import { existsSync } from 'node:fs';
import { lstat, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { VesselError, errorMessage } from '../util/index.js';
import { MEDIA_INDEX, MEDIA_LAYER_GZIP, MEDIA_LAYER_TAR, MEDIA_LAYER_ZSTD, dropStaging, isDigest, makeStaging, paths, readIndex, readRecord, withStoreLock, type Descriptor } from './store.js';
import { commitLayers, stageLayerFile, type Progress, type StagedLayer } from './layer.js';
import { registerImage, setTag, sha256 } from './commit.js';
import { linkLowerFiles } from './lower-links.js';
import { hostArchitecture, hostOs, type OciImageConfig } from './oci-config.js';
import { formatImageRef, parseImageRef } from './ref.js';
import { toImageRecord } from './list.js';
import type { Digest, ImageRecord, ImageRef } from './types.js';
import type { ExtractLimits } from './validate.js';

/**
 * Import an OCI image layout in one tar (`oci-archive`, as skopeo, buildah and vessel itself
 * write it). The outer archive is unpacked (validated like any archive) into staging; every blob
 * used is checked against its digest, every layer against its diff id, and only when all layers
 * staged are they moved into the store and the image registered. Config and manifest are kept
 * byte for byte, so the image id is the one the producer computed.
 */
export const CONTAINERD_NAME = 'io.containerd.image.name';
const REF_NAME = 'org.opencontainers.image.ref.name';
const DOCKER_MANIFEST = 'application/vnd.docker.distribution.manifest.v2+json';
const DOCKER_LIST = 'application/vnd.docker.distribution.manifest.list.v2+json';
const LAYER_TYPES = new Set([
  MEDIA_LAYER_TAR, MEDIA_LAYER_GZIP, MEDIA_LAYER_ZSTD,
  'application/vnd.docker.image.rootfs.diff.tar.gzip', 'application/vnd.docker.image.rootfs.diff.tar',
]);
const MAX_JSON = 4 * 1024 * 1024;

interface Manifest {
  schemaVersion: number;
  mediaType?: string;
  config: Descriptor;
  layers: Descriptor[];
  manifests?: Descriptor[];
}

export interface OciImportOptions {
  onProgress?: (p: Progress) => void;
  limits?: Partial<ExtractLimits>;
  /** Stops the import (its caller went away): nothing reaches the store. */
  signal?: AbortSignal;
}

export async function importOciArchive(file: string, ref: string | undefined, opts: OciImportOptions = {}): Promise<ImageRecord> {
  const wanted = ref === undefined ? undefined : parseImageRef(ref);
  const staging = await makeStaging('oci');
  try {
    const outer = await stageLayerFile(file, staging, { keepBlob: false, source: file, ...(opts.limits ? { limits: opts.limits } : {}), ...(opts.onProgress ? { onProgress: opts.onProgress } : {}), ...(opts.signal ? { signal: opts.signal } : {}) });
    const layout = outer.layerDir;
    const bad = (what: string, why: string) => new VesselError('E_ARCHIVE', `${file}: ${what}: ${why}`);

    const blobFile = async (d: Descriptor, what: string): Promise<string> => {
      if (!d || typeof d.digest !== 'string' || !isDigest(d.digest)) throw bad(what, `bad digest ${JSON.stringify(d?.digest)}`);
      const p = join(layout, 'blobs', 'sha256', d.digest.slice(7));
      const st = await lstat(p).catch(() => undefined);
      if (!st) throw bad(what, `blob ${d.digest} is missing`);
      if (!st.isFile()) throw bad(what, `blob ${d.digest} is not a regular file`);
      return p;
    };
    const readJson = async <T>(p: string, what: string, digest?: Digest): Promise<{ value: T; text: string }> => {
      const st = await lstat(p).catch(() => undefined);
      if (!st || !st.isFile()) throw bad(what, 'missing or not a regular file');
      if (st.size > MAX_JSON) throw bad(what, `larger than ${MAX_JSON} bytes`);
      const buf = await readFile(p);
      if (digest) {
        const got = sha256(buf);
        if (got !== digest) throw bad(what, `digest mismatch (content is ${got})`);
      }
      const text = buf.toString('utf8');
      try {
        return { value: JSON.parse(text) as T, text };
      } catch (e) {
        throw bad(what, `not valid JSON (${errorMessage(e)})`);
      }
    };

    const index = (await readJson<{ manifests?: Descriptor[] }>(join(layout, 'index.json'), 'index.json')).value;
    if (!index || !Array.isArray(index.manifests) || index.manifests.length === 0) throw bad('index.json', 'no manifests');
    let entry = pickManifest(index.manifests, wanted);
    if (!entry) throw bad('index.json', `no image named ${wanted ? formatImageRef(wanted) : ''}; it holds ${index.manifests.map((m) => m.annotations?.[REF_NAME] ?? m.digest).join(', ')}`);
    let manifest = await readJson<Manifest>(await blobFile(entry, 'index.json'), `manifest ${entry.digest}`, entry.digest);
    // A multi-platform index inside: take this host's platform.
    if (manifest.value.mediaType === MEDIA_INDEX || manifest.value.mediaType === DOCKER_LIST || Array.isArray(manifest.value.manifests)) {
      const list = (manifest.value.manifests ?? []) as Array<Descriptor & { platform?: { os?: string; architecture?: string } }>;
      const mine = list.find((m) => m.platform?.os === hostOs() && m.platform?.architecture === hostArchitecture()) ?? (list.length === 1 ? list[0] : undefined);
      if (!mine) throw bad(`manifest ${entry.digest}`, `no image for ${hostOs()}/${hostArchitecture()}`);
      entry = { ...mine, annotations: entry.annotations ?? {} };
      manifest = await readJson<Manifest>(await blobFile(mine, 'index'), `manifest ${mine.digest}`, mine.digest);
    }
    const m = manifest.value;
    if (m.mediaType !== undefined && m.mediaType !== 'application/vnd.oci.image.manifest.v1+json' && m.mediaType !== DOCKER_MANIFEST) {
      throw bad(`manifest ${entry.digest}`, `unsupported media type ${m.mediaType}`);
    }
    if (!m.config || !Array.isArray(m.layers)) throw bad(`manifest ${entry.digest}`, 'no config or layers');
    const cfg = await readJson<OciImageConfig>(await blobFile(m.config, 'config'), `config ${m.config.digest}`, m.config.digest);
    const diffIds = cfg.value.rootfs?.diff_ids;
    if (!Array.isArray(diffIds) || diffIds.length !== m.layers.length || !diffIds.every((d) => typeof d === 'string' && isDigest(d))) {
      throw bad(`config ${m.config.digest}`, `rootfs.diff_ids do not match the ${m.layers.length} layers of the manifest`);
    }
    const name = wanted ?? nameFrom(entry);
    if (!name) {
      throw new VesselError('E_USAGE', `${file}: the archive does not name its image`, { hint: 'give a name: vessel image import FILE NAME[:TAG]' });
    }

    const existing = await readRecord(m.config.digest);
    if (existing && existing.layers.every((l) => existsSync(paths.layer(l)))) {
      await withStoreLock(async () => setTag(await readIndex(), existing, formatImageRef(name)));
      return toImageRecord(existing, name);
    }

    const staged: StagedLayer[] = [];
    for (const [i, l] of m.layers.entries()) {
      const what = `layer ${l.digest}`;
      if (!LAYER_TYPES.has(l.mediaType)) throw bad(what, `unsupported media type ${l.mediaType}`);
      const p = await blobFile(l, what);
      const s = await stageLayerFile(p, staging, { source: `${file}: ${what}`, whiteouts: true, ...(opts.limits ? { limits: opts.limits } : {}), ...(opts.signal ? { signal: opts.signal } : {}) });
      if (s.blob.digest !== l.digest) throw bad(what, `digest mismatch (content is ${s.blob.digest})`);
      if (s.diffId !== diffIds[i]) throw bad(what, `uncompressed digest ${s.diffId} is not the config's diff id ${diffIds[i]}`);
      staged.push({ ...s, blob: { mediaType: l.mediaType, digest: l.digest, size: l.size } });
    }
    await linkLowerFiles(staged.map((s) => ({ diffId: s.diffId, staged: s })), file);
    await commitLayers(staged);
    const rec = await registerImage(
      { config: cfg.value, configText: cfg.text, manifest: manifest.text, layerBlobs: staged.map((s) => s.blob), layerSizes: staged.map((s) => s.size) },
      name,
    );
    return toImageRecord(rec, name);
  } finally {
    await dropStaging(staging);
  }
}

function pickManifest(list: Descriptor[], wanted: ImageRef | undefined): Descriptor | undefined {
  if (list.length === 1) return list[0];
  if (!wanted) return undefined;
  const full = formatImageRef(wanted);
  return (
    list.find((m) => m.annotations?.[CONTAINERD_NAME] === full) ??
    list.find((m) => m.annotations?.[REF_NAME] === full) ??
    list.find((m) => m.annotations?.[REF_NAME] === wanted.tag)
  );
}

function nameFrom(d: Descriptor): ImageRef | undefined {
  for (const key of [CONTAINERD_NAME, REF_NAME]) {
    const v = d.annotations?.[key];
    if (!v) continue;
    try {
      const r = parseImageRef(v);
      // A bare ref.name like "latest" is a tag, not a name.
      if (key === REF_NAME && !v.includes(':')) continue;
      return r;
    } catch {
      /* not a usable name */
    }
  }
  return undefined;
}
