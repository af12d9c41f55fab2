import { existsSync } from 'node:fs';
import { VesselError } from '../util/index.js';
import { ID_ANNOTATION, allRecords, isDigest, paths, readIndex, readRecord, refOf, type StoredImage } from './store.js';
import { formatImageRef, parseImageRef } from './ref.js';
import type { Digest, ImageRecord, ImageRef, ResolvedImage } from './types.js';

export function toImageRecord(s: StoredImage, ref: ImageRef | undefined): ImageRecord {
  return {
    id: s.id,
    name: ref?.name ?? '<none>',
    tag: ref?.tag ?? '<none>',
    layers: [...s.layers],
    config: s.config,
    created: s.created,
    size: s.size,
    os: s.os,
    architecture: s.architecture,
  };
}

function splitRef(text: string): ImageRef {
  const i = text.lastIndexOf(':');
  return { name: text.slice(0, i), tag: text.slice(i + 1) };
}

/** Every tagged image, one row per name:tag (as `docker images`), then untagged images. */
export async function listImages(opts: { all?: boolean } = {}): Promise<ImageRecord[]> {
  const idx = await readIndex();
  const out: ImageRecord[] = [];
  const tagged = new Set<string>();
  for (const d of idx.manifests) {
    const text = refOf(d);
    const id = d.annotations?.[ID_ANNOTATION];
    if (!text || !id || !isDigest(id)) continue;
    const rec = await readRecord(id);
    if (!rec) continue;
    tagged.add(rec.id);
    out.push(toImageRecord(rec, splitRef(text)));
  }
  out.sort((a, b) => (a.name === b.name ? a.tag.localeCompare(b.tag) : a.name.localeCompare(b.name)));
  if (opts.all) {
    for (const r of await allRecords()) if (!tagged.has(r.id)) out.push(toImageRecord(r, undefined));
  }
  return out;
}

/**
 * Find an image by NAME[:TAG], by its id (sha256:HEX) or by an unambiguous id prefix
 * (at least 6 hex digits, as `vessel images` prints 12).
 */
export async function findImage(text: string): Promise<{ stored: StoredImage; ref: ImageRef | undefined }> {
  const idx = await readIndex();
  // An id given where a NAME[:TAG] is expected comes back from spec normalization as ID:latest.
  const bare = /^(sha256:)?[0-9a-f]{6,64}:latest$/.test(text) && !idx.manifests.some((d) => refOf(d) === text) ? text.slice(0, -':latest'.length) : text;
  const hex = bare.startsWith('sha256:') ? bare.slice(7) : bare;
  if (/^[0-9a-f]{6,64}$/.test(hex)) {
    const matches = new Set<Digest>();
    for (const r of await allRecords()) if (r.id.slice(7).startsWith(hex)) matches.add(r.id);
    if (matches.size > 1) throw new VesselError('E_USAGE', `image id prefix "${text}" is ambiguous`, { hint: 'give more digits of the id' });
    const id = [...matches][0];
    if (id) {
      const stored = await readRecord(id);
      if (stored) {
        const entry = idx.manifests.find((d) => d.annotations?.[ID_ANNOTATION] === id && refOf(d));
        return { stored, ref: entry ? splitRef(refOf(entry)!) : undefined };
      }
    }
    if (bare.startsWith('sha256:')) throw notFound(bare);
  }
  const ref = parseImageRef(text);
  const want = formatImageRef(ref);
  const entry = idx.manifests.find((d) => refOf(d) === want);
  const id = entry?.annotations?.[ID_ANNOTATION];
  const stored = id && isDigest(id) ? await readRecord(id) : undefined;
  if (!stored) throw notFound(want);
  return { stored, ref };
}

function notFound(what: string): VesselError {
  return new VesselError('E_NOT_FOUND', `image "${what}" not found`, {
    hint: 'vessel images lists the images in the store; vessel image import FILE NAME adds one',
  });
}

/** An image ready to run: its record and its layer directories, base first. */
export async function resolveImage(ref: string): Promise<ResolvedImage> {
  const { stored, ref: r } = await findImage(ref);
  const layerDirs = stored.layers.map((l) => paths.layer(l));
  const missing = layerDirs.find((d) => !existsSync(d));
  if (missing) {
    throw new VesselError('E_IMAGE', `image "${ref}": layer directory ${missing} is missing`, {
      hint: 'the store is damaged; remove the image and import it again',
    });
  }
  return { record: toImageRecord(stored, r), layerDirs };
}
