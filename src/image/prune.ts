import { readdir, rm, rmdir } from 'node:fs/promises';
import { join } from 'node:path';
import { hasErrno, pidAlive } from '../util/index.js';
import { ID_ANNOTATION, allRecords, isDigest, paths, readIndex, storeDir, withStoreLock } from './store.js';
import { findImage } from './list.js';
import { dropIdlePullDir } from './blobs-api.js';
import type { Digest } from './types.js';
import { imageIdOf, type ImageUsers } from './users.js';
import { keptFlatNames } from './flat.js';

export interface PruneResult {
  images: Digest[];
  blobs: number;
  /** Unpacked layer directories removed. */
  layers: number;
  /** Flattened layer chains removed (FreeBSD without ZFS: flat.ts). */
  flattened: number;
  /** Set when an import was running: blobs and layers were left alone. */
  skipped?: string;
}

async function list(dir: string): Promise<string[]> {
  try {
    return await readdir(dir);
  } catch (e) {
    if (hasErrno(e, 'ENOENT')) return [];
    throw e;
  }
}

/**
 * `vessel image prune`: remove every image no tag and no container references, then every blob
 * and unpacked layer no remaining image references. Staging left by dead imports goes too, and the
 * download directories of pulls that are not running (what a rerun would have resumed); while a
 * live import is staging (its layers are committed before its tag is written) or a pull is
 * running (it counts on the layers the store already has), blobs and layers are kept.
 */
export async function pruneImages(users: ImageUsers): Promise<PruneResult> {
  return withStoreLock(async () => {
    const result: PruneResult = { images: [], blobs: 0, layers: 0, flattened: 0 };
    const live: string[] = [];
    for (const n of await list(paths.tmp())) {
      // A registry pull's download directory (pull-MANIFEST) is kept for a rerun to resume; prune
      // frees that space too unless a pull is using it now (it holds the manifest's pull lock).
      const pull = /^pull-([0-9a-f]{64})$/.exec(n);
      if (pull) {
        if (!(await dropIdlePullDir(pull[1]!))) live.push(`a pull of manifest sha256:${pull[1]!.slice(0, 12)}`);
        continue;
      }
      // Staging directories (KIND-PID-RANDOM) are judged by their owner's pid.
      const m = /^[a-z]+-(\d+)-[0-9a-f]{12}$/.exec(n);
      if (!m) continue;
      const pid = Number(m[1]);
      if (pid !== process.pid && pidAlive(pid)) live.push(`pid ${pid}`);
      else if (pid !== process.pid) await rm(join(paths.tmp(), n), { recursive: true, force: true });
    }

    const idx = await readIndex();
    // Image ids recorded in containers' state files: their layers are overlay lower dirs.
    const keep = new Set<string>((await users()).flatMap((c) => (c.imageId ? [imageIdOf(c.imageId)] : [])));
    for (const d of idx.manifests) {
      const id = d.annotations?.[ID_ANNOTATION];
      if (id) keep.add(id);
    }
    const keepBlobs = new Set<string>(idx.manifests.map((d) => d.digest));
    const keepLayers = new Set<string>();
    const keepChains: Digest[][] = [];
    for (const r of await allRecords()) {
      if (!keep.has(r.id)) {
        await rm(paths.record(r.id), { force: true });
        result.images.push(r.id);
        continue;
      }
      keepBlobs.add(r.id);
      keepBlobs.add(r.manifest.digest);
      for (const b of r.layerBlobs) keepBlobs.add(b.digest);
      for (const l of r.layers) keepLayers.add(l);
      keepChains.push(r.layers);
    }
    if (live.length) {
      result.skipped = `an import or pull is in progress (${live.join(', ')})`;
      return result;
    }
    const blobDir = join(storeDir(), 'blobs', 'sha256');
    for (const n of await list(blobDir)) {
      const d = `sha256:${n}`;
      if (isDigest(d) && keepBlobs.has(d)) continue;
      await rm(join(blobDir, n), { recursive: true, force: true });
      result.blobs++;
    }
    const layerDir = join(storeDir(), 'layers');
    for (const n of await list(layerDir)) {
      if (keepLayers.has(`sha256:${n.replace(/\.json$/, '')}`)) continue;
      await rm(join(layerDir, n), { recursive: true, force: true });
      if (!n.endsWith('.json')) result.layers++;
    }
    // flattened chains (flat.ts) of images that went
    const keepFlat = keptFlatNames(keepChains);
    const flatDir = join(storeDir(), 'flat');
    for (const n of await list(flatDir)) {
      if (keepFlat.has(n)) continue;
      await rm(join(flatDir, n), { recursive: true, force: true });
      result.flattened++;
    }
    await rmdir(flatDir).catch(() => undefined);
    return result;
  });
}

/** `vessel image tag SOURCE TARGET`. */
export async function tagImage(source: string, target: string): Promise<Digest> {
  const { parseImageRef, formatImageRef } = await import('./ref.js');
  const { setTag } = await import('./commit.js');
  const t = formatImageRef(parseImageRef(target));
  return withStoreLock(async () => {
    const { stored } = await findImage(source);
    setTag(await readIndex(), stored, t);
    return stored.id;
  });
}
