import { createReadStream, createWriteStream } from 'node:fs';
import { rename, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { run, tempNameFor, VesselError } from '../util/index.js';
import { MEDIA_CONFIG, MEDIA_LAYER_BZIP2, MEDIA_LAYER_GZIP, MEDIA_LAYER_XZ, MEDIA_MANIFEST, dropStaging, makeStaging, paths, type Descriptor } from './store.js';
import { findImage } from './list.js';
import { canonicalJson } from './oci-config.js';
import { sha256 } from './commit.js';
import { decompressFile } from './compression.js';
import { CONTAINERD_NAME } from './oci-import.js';
import { finished } from './streams.js';
import { withMergedRoot } from './flat.js';
import { tarStreamLib } from './retar.js';
import { tarForms } from './tar-forms.js';
import { renderAciManifest } from './aci.js';
import type { Progress } from './layer.js';

export type ExportFormat = 'oci' | 'aci' | 'tar';

export interface ExportOptions {
  format: ExportFormat;
  /** For `tar`: compression of the output (default from the file name, else none). */
  compression?: 'none' | 'gzip' | 'xz' | 'zstd';
  onProgress?: (p: Progress) => void;
}

export function compressionFromName(file: string): 'none' | 'gzip' | 'xz' | 'zstd' {
  if (/\.(tgz|gz)$/.test(file)) return 'gzip';
  if (/\.(txz|xz)$/.test(file)) return 'xz';
  if (/\.(tzst|zst)$/.test(file)) return 'zstd';
  return 'none';
}

/**
 * `vessel image export REF FILE --format oci|aci|tar`. The file appears complete or not at all
 * (written beside it, renamed at the end).
 */
export async function exportImage(ref: string, out: string, opts: ExportOptions): Promise<void> {
  const { stored, ref: r } = await findImage(ref);
  const tmp = tempNameFor(out);
  try {
    if (opts.format === 'oci') await writeOciArchive(stored, r ? `${r.name}:${r.tag}` : undefined, r?.tag, tmp, opts);
    else {
      const forms = tarForms();
      if (opts.format === 'tar') {
        const comp = opts.compression ?? compressionFromName(out);
        await withMergedRoot(stored.layers, (dir) => run(forms.createRootfs(dir, tmp, comp)));
      } else {
        const staging = await makeStaging('aci');
        try {
          await writeFile(join(staging, 'manifest'), renderAciManifest(stored, r));
          const comp = opts.compression ?? (compressionFromName(out) === 'none' ? 'gzip' : compressionFromName(out));
          // manifest first, then the merged root renamed to rootfs/ (appc image format).
          await withMergedRoot(stored.layers, (dir) => run(forms.createRootfs(dir, tmp, comp, { dir: staging, file: 'manifest' })));
        } finally {
          await dropStaging(staging);
        }
      }
    }
    await rename(tmp, out);
  } catch (e) {
    await rm(tmp, { force: true });
    throw e;
  }
}

/** Layers kept in a compression OCI has no media type for are re-encoded as gzip for export. */
async function exportableLayer(d: Descriptor, staging: string): Promise<{ desc: Descriptor; path: string }> {
  const path = paths.blob(d.digest);
  if (d.mediaType !== MEDIA_LAYER_XZ && d.mediaType !== MEDIA_LAYER_BZIP2) return { desc: d, path };
  const out = join(staging, d.digest.slice(7) + '.gz');
  const { createGzip } = await import('node:zlib');
  const { createHash } = await import('node:crypto');
  const gz = createGzip({ level: 6 });
  const h = createHash('sha256');
  const w = createWriteStream(out);
  gz.on('data', (c: Buffer) => h.update(c));
  const dec = await decompressFile(d.mediaType === MEDIA_LAYER_XZ ? 'xz' : 'bzip2', path);
  dec.output.pipe(gz).pipe(w);
  await dec.done;
  await finished(w);
  const size = (await stat(out)).size;
  return { desc: { mediaType: MEDIA_LAYER_GZIP, digest: `sha256:${h.digest('hex')}`, size }, path: out };
}

async function writeOciArchive(
  stored: Awaited<ReturnType<typeof findImage>>['stored'],
  fullName: string | undefined,
  tag: string | undefined,
  out: string,
  opts: ExportOptions,
): Promise<void> {
  const staging = await makeStaging('export');
  try {
    const layers = [];
    for (const d of stored.layerBlobs) layers.push(await exportableLayer(d, staging));
    let manifestDesc: Descriptor = stored.manifest;
    let manifestPath = paths.blob(stored.manifest.digest);
    if (layers.some((l, i) => l.desc.digest !== stored.layerBlobs[i]!.digest)) {
      const configSize = (await stat(paths.blob(stored.id))).size;
      const text = canonicalJson({
        schemaVersion: 2,
        mediaType: MEDIA_MANIFEST,
        config: { mediaType: MEDIA_CONFIG, digest: stored.id, size: configSize },
        layers: layers.map((l) => ({ mediaType: l.desc.mediaType, digest: l.desc.digest, size: l.desc.size })),
      });
      manifestPath = join(staging, 'manifest.json');
      await writeFile(manifestPath, text);
      manifestDesc = { mediaType: MEDIA_MANIFEST, digest: sha256(text), size: Buffer.byteLength(text) };
    }
    const annotations: Record<string, string> = {};
    if (tag) annotations['org.opencontainers.image.ref.name'] = tag;
    if (fullName) annotations[CONTAINERD_NAME] = fullName;
    const index = canonicalJson({
      schemaVersion: 2,
      mediaType: 'application/vnd.oci.image.index.v1+json',
      manifests: [{ mediaType: MEDIA_MANIFEST, digest: manifestDesc.digest, size: manifestDesc.size, ...(tag || fullName ? { annotations } : {}) }],
    });
    const blobs: Array<{ name: string; path: string; size: number }> = [
      { name: stored.id.slice(7), path: paths.blob(stored.id), size: (await stat(paths.blob(stored.id))).size },
      { name: manifestDesc.digest.slice(7), path: manifestPath, size: manifestDesc.size },
      ...layers.map((l) => ({ name: l.desc.digest.slice(7), path: l.path, size: l.desc.size })),
    ];
    // Each entry's size is its descriptor's: a blob of another size in the store (damaged, or
    // changed behind vessel's back) would fail half-way into the archive, from inside the packer.
    for (const b of blobs) {
      const size = (await stat(b.path).catch(() => undefined))?.size;
      if (size !== b.size) {
        throw new VesselError('E_IMAGE', `image "${fullName ?? stored.id}": blob sha256:${b.name} is ${size === undefined ? 'missing' : `${size} bytes, not the ${b.size} its manifest says`}`, {
          hint: 'the store is damaged; remove the image and import or pull it again',
        });
      }
    }
    const total = blobs.reduce((a, b) => a + b.size, 0);
    let done = 0;
    const pack = tarStreamLib().pack();
    // A failed entry rejects its own promise below; the packer's 'error' event must not go unheard.
    pack.on('error', () => undefined);
    const file = createWriteStream(out, { mode: 0o644 });
    const written = finished(file);
    pack.pipe(file);
    const small = (name: string, text: string) => pack.entry({ name, mode: 0o644, mtime: new Date(0) }, text);
    small('oci-layout', JSON.stringify({ imageLayoutVersion: '1.0.0' }));
    small('index.json', index);
    pack.entry({ name: 'blobs', type: 'directory', mode: 0o755, mtime: new Date(0) });
    pack.entry({ name: 'blobs/sha256', type: 'directory', mode: 0o755, mtime: new Date(0) });
    const seen = new Set<string>();
    for (const b of blobs) {
      if (seen.has(b.name)) continue;
      seen.add(b.name);
      await new Promise<void>((res, rej) => {
        const entry = pack.entry({ name: `blobs/sha256/${b.name}`, size: b.size, mode: 0o644, mtime: new Date(0) }, (err) => (err ? rej(err) : res()));
        const rs = createReadStream(b.path, { highWaterMark: 1 << 20 });
        rs.on('data', (c) => {
          done += c.length;
          opts.onProgress?.({ done, total });
        });
        rs.on('error', rej);
        rs.pipe(entry);
      });
    }
    pack.finalize();
    await written;
  } finally {
    await dropStaging(staging);
  }
}

export function assertFormat(f: string): ExportFormat {
  if (f === 'oci' || f === 'aci' || f === 'tar') return f;
  throw new VesselError('E_USAGE', `--format ${f}: expected oci, aci or tar`);
}

