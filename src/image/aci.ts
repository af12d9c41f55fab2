import type tarStream from 'tar-stream';
import { VesselError, errorMessage } from '../util/index.js';
import { decompressFile, detectCompression, readHead, type Compression } from './compression.js';
import { retar } from './retar.js';
import { commitLayers, fileSize, stageLayerStream, type Progress, type StagedLayer } from './layer.js';
import { linkLowerFiles } from './lower-links.js';
import { dropStaging, makeStaging, readIndex, withStoreLock, type StoredImage } from './store.js';
import { findEquivalent, registerImage, setTag } from './commit.js';
import { findImage, toImageRecord } from './list.js';
import { hostArchitecture, hostOs, toOciConfig, type OciImageConfig } from './oci-config.js';
import { formatImageRef, parseImageRef } from './ref.js';
import type { Digest, ImageConfig, ImageRecord, ImageRef } from './types.js';

/**
 * appc images (.aci): a tar (plain, gzip, bzip2 or xz) holding `manifest` (JSON) and `rootfs/`.
 * The rootfs is re-packed on the fly into a plain layer tar (names without "rootfs/"), which goes
 * through the same validated extraction as every other layer; the manifest maps onto ImageConfig.
 * Dependencies name images already in the store; their layers go below this one.
 */
interface AciNameValue {
  name: string;
  value: string;
}

export interface AciManifest {
  acKind: 'ImageManifest';
  acVersion: string;
  name: string;
  labels?: AciNameValue[];
  app?: {
    exec?: string[];
    user: string;
    group: string;
    workingDirectory?: string;
    environment?: AciNameValue[];
    ports?: Array<{ name: string; protocol: string; port: number; count?: number; socketActivated?: boolean }>;
    mountPoints?: Array<{ name: string; path: string; readOnly?: boolean }>;
  };
  annotations?: AciNameValue[];
  dependencies?: Array<{ imageName: string; imageID?: string; labels?: AciNameValue[] }>;
}

const AC_VERSION = '0.8.11';
const MAX_MANIFEST = 1024 * 1024;

/** ImageConfig (and tag, os, arch) from an appc manifest. Pure. */
export function configFromAci(m: AciManifest): { config: ImageConfig; version: string | undefined; os: string | undefined; arch: string | undefined } {
  const labels = Object.fromEntries((m.labels ?? []).map((l) => [l.name, l.value]));
  const { version, os, arch, ...rest } = labels;
  const c: ImageConfig = {};
  const extra = { ...rest, ...Object.fromEntries((m.annotations ?? []).map((a) => [a.name, a.value])) };
  if (Object.keys(extra).length) c.labels = extra;
  const app = m.app;
  if (app) {
    if (app.exec?.length) c.cmd = [...app.exec];
    if (app.user !== undefined) c.user = app.group !== undefined && app.group !== '' ? `${app.user}:${app.group}` : app.user;
    if (app.workingDirectory) c.workdir = app.workingDirectory;
    if (app.environment?.length) c.env = app.environment.map((e) => `${e.name}=${e.value}`);
    if (app.ports?.length) c.exposedPorts = app.ports.map((p) => `${p.port}/${p.protocol}`);
    if (app.mountPoints?.length) c.volumes = app.mountPoints.map((p) => p.path);
  }
  return { config: c, version, os, arch };
}

/** The appc manifest of an image (exported flattened: no dependencies). Pure. */
export function renderAciManifest(img: StoredImage, ref: ImageRef | undefined): string {
  const c = img.config;
  const labels: AciNameValue[] = [
    { name: 'version', value: ref?.tag ?? 'latest' },
    { name: 'os', value: img.os },
    { name: 'arch', value: img.architecture },
    ...Object.entries(c.labels ?? {}).map(([name, value]) => ({ name, value })),
  ];
  const m: AciManifest = { acKind: 'ImageManifest', acVersion: AC_VERSION, name: ref?.name ?? `sha256-${img.id.slice(7, 19)}`, labels };
  const exec = [...(c.entrypoint ?? []), ...(c.cmd ?? [])];
  const [user, group] = (c.user ?? '0').split(':');
  m.app = {
    ...(exec.length ? { exec } : {}),
    user: user || '0',
    group: group ?? '0',
    ...(c.workdir ? { workingDirectory: c.workdir } : {}),
    ...(c.env?.length ? { environment: c.env.map((e) => ({ name: e.slice(0, e.indexOf('=') < 0 ? e.length : e.indexOf('=')), value: e.indexOf('=') < 0 ? '' : e.slice(e.indexOf('=') + 1) })) } : {}),
    ...(c.exposedPorts?.length
      ? { ports: c.exposedPorts.map((p) => { const [port, proto = 'tcp'] = p.split('/'); return { name: `${proto}-${port}`, protocol: proto, port: Number(port) }; }) }
      : {}),
    ...(c.volumes?.length ? { mountPoints: c.volumes.map((v) => ({ name: `volume${v.replace(/[^a-z0-9]+/gi, '-').toLowerCase()}`, path: v })) } : {}),
  };
  return JSON.stringify(m, null, 2) + '\n';
}

function stripRootfs(name: string): string | undefined {
  const clean = name.replace(/^(\.\/)+/, '');
  if (clean === 'rootfs' || clean === 'rootfs/') return '.';
  if (clean.startsWith('rootfs/')) return clean.slice('rootfs/'.length);
  return undefined;
}

/** The archive decompressed and re-written as a plain layer tar of rootfs/, with `manifest` caught on the way. */
async function aciLayerStream(file: string, total: number, compression: Compression, onProgress: ((p: Progress) => void) | undefined) {
  const dec = await decompressFile(compression, file, onProgress ? { onProgress: (done) => onProgress({ done, total }) } : {});

  const manifest = { text: '', tooBig: false };
  const { output, done: outerDone } = retar(
    dec.output,
    (h) => {
      const inner = stripRootfs(h.name);
      // An absolute member is not meant for the rootfs but is a sign of a hostile archive:
      // passed on unchanged, the checker refuses it by name.
      if (inner === undefined) return h.name.startsWith('/') ? h : null;
      const header: tarStream.Header = { ...h, name: inner };
      // A hardlink to something outside rootfs/ keeps a ".." so the checker refuses it.
      if (h.type === 'link' && h.linkname) header.linkname = stripRootfs(h.linkname) ?? `../${h.linkname}`;
      return header;
    },
    (h, data, next) => {
      const isManifest = h.name.replace(/^(\.\/)+/, '') === 'manifest' && (h.type === 'file' || h.type === 'contiguous-file');
      data.on('end', next);
      if (!isManifest) return void data.resume();
      data.setEncoding('utf8');
      data.on('data', (chunk: string) => {
        if (manifest.text.length + chunk.length > MAX_MANIFEST) manifest.tooBig = true;
        else manifest.text += chunk;
      });
    },
  );
  return {
    layerTar: output,
    manifest,
    upstream: Promise.all([dec.done, outerDone]).then(() => undefined),
    /** Stop reading the file and decompressing (the layer was refused). */
    abort: async () => {
      dec.abort();
      await dec.done.catch(() => undefined);
    },
  };
}

function parseAciManifest(file: string, manifest: { text: string; tooBig: boolean }): AciManifest {
  if (manifest.tooBig) throw new VesselError('E_ARCHIVE', `${file}: manifest: larger than ${MAX_MANIFEST} bytes`);
  if (!manifest.text) throw new VesselError('E_ARCHIVE', `${file}: no "manifest" file: not an appc image`);
  let m: AciManifest;
  try {
    m = JSON.parse(manifest.text) as AciManifest;
  } catch (e) {
    throw new VesselError('E_ARCHIVE', `${file}: manifest: not valid JSON (${errorMessage(e)})`);
  }
  if (m.acKind !== 'ImageManifest' || typeof m.name !== 'string') {
    throw new VesselError('E_ARCHIVE', `${file}: manifest: not an appc ImageManifest (acKind ${JSON.stringify(m.acKind)})`);
  }
  return m;
}

/** appc dependencies: images in the store, lowest first, below this image's own layer. */
async function aciDependencies(file: string, m: AciManifest): Promise<StoredImage[]> {
  const lower: StoredImage[] = [];
  for (const d of m.dependencies ?? []) {
    const version = d.labels?.find((l) => l.name === 'version')?.value ?? 'latest';
    const dep = await findImage(`${d.imageName}:${version}`).catch(() => undefined);
    if (!dep) {
      throw new VesselError('E_NOT_FOUND', `${file}: dependency "${d.imageName}:${version}" is not in the store`, { hint: 'import the dependency first' });
    }
    lower.push(dep.stored);
  }
  return lower;
}

/** The committed layer on top of its dependencies, registered and tagged (or the same image again). */
async function registerAci(file: string, m: AciManifest, name: ImageRef, layer: StagedLayer, lower: StoredImage[]): Promise<ImageRecord> {
  const mapped = configFromAci(m);
  const created = new Date().toISOString();
  const diffIds: Digest[] = [...lower.flatMap((l) => l.layers), layer.diffId];
  const config: OciImageConfig = {
    created,
    architecture: mapped.arch ?? hostArchitecture(),
    os: mapped.os ?? hostOs(),
    config: toOciConfig(mapped.config),
    rootfs: { type: 'layers', diff_ids: diffIds },
    history: [{ created, created_by: `vessel image import ${file} (appc ${m.name})` }],
  };
  const same = await findEquivalent(diffIds, config);
  if (same) {
    await withStoreLock(async () => setTag(await readIndex(), same, formatImageRef(name)));
    return toImageRecord(same, name);
  }
  const rec = await registerImage(
    {
      config,
      layerBlobs: [...lower.flatMap((l) => l.layerBlobs), layer.blob],
      layerSizes: [...lower.flatMap((l) => l.layerSizes), layer.size],
    },
    name,
  );
  return toImageRecord(rec, name);
}

/**
 * `vessel image import` of an appc image: its rootfs/ becomes one layer (through the same safe
 * extraction as every import), its manifest the image config, its dependencies the layers below.
 */
export async function importAci(file: string, ref: string | undefined, opts: { onProgress?: (p: Progress) => void; signal?: AbortSignal } = {}): Promise<ImageRecord> {
  const wanted = ref === undefined ? undefined : parseImageRef(ref);
  const stream = await aciLayerStream(file, await fileSize(file), detectCompression(await readHead(file, 8)), opts.onProgress);
  const staging = await makeStaging('aci');
  try {
    let layer: StagedLayer;
    try {
      layer = await stageLayerStream(stream.layerTar, staging, { source: file, whiteouts: false, lowerLinks: true, upstream: stream.upstream, ...(opts.signal ? { signal: opts.signal } : {}) });
    } catch (e) {
      await stream.abort();
      if (e instanceof VesselError) throw e;
      throw new VesselError('E_ARCHIVE', `${file}: ${errorMessage(e)}`);
    }
    const m = parseAciManifest(file, stream.manifest);
    let name: ImageRef;
    try {
      name = wanted ?? parseImageRef(`${m.name}:${configFromAci(m).version ?? 'latest'}`);
    } catch {
      throw new VesselError('E_USAGE', `${file}: appc name "${m.name}" is not a vessel image name`, { hint: 'give one: vessel image import FILE NAME[:TAG]' });
    }
    const lower = await aciDependencies(file, m);
    const below = lower.flatMap((l) => l.layers.map((diffId) => ({ diffId, staged: undefined })));
    await linkLowerFiles([...below, { diffId: layer.diffId, staged: layer }], file);
    await commitLayers([layer]);
    return await registerAci(file, m, name, layer, lower);
  } finally {
    await dropStaging(staging);
  }
}
