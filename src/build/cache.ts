import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { createHash } from 'node:crypto';
import { readJsonFile, writeJsonAtomic } from '../util/index.js';
import { paths, storeDir, withStoreLock, type Descriptor } from '../image/index.js';
import type { Digest } from '../image/index.js';

/**
 * The build cache: a layer-making step (RUN, COPY, ADD, WORKDIR) is keyed by its parent state,
 * its instruction (after variable substitution) and, for COPY/ADD, the digest of its sources.
 * A hit reuses the layer when it is still in the store (prune may have removed it).
 */
export interface CachedLayer {
  diffId: Digest;
  blob: Descriptor;
  size: number;
}

interface CacheFile {
  entries: Record<string, CachedLayer & { at: string }>;
}

const file = () => join(storeDir(), 'build-cache.json');

export function cacheKey(parts: string[]): string {
  return createHash('sha256').update(parts.join('\0')).digest('hex');
}

export async function lookup(key: string): Promise<CachedLayer | undefined> {
  const c = await readJsonFile<CacheFile>(file());
  const e = c?.entries?.[key];
  if (!e || !existsSync(paths.layer(e.diffId)) || !existsSync(paths.blob(e.blob.digest))) return undefined;
  return { diffId: e.diffId, blob: e.blob, size: e.size };
}

export async function remember(key: string, layer: CachedLayer): Promise<void> {
  await withStoreLock(async () => {
    const c = (await readJsonFile<CacheFile>(file())) ?? { entries: {} };
    c.entries[key] = { ...layer, at: new Date().toISOString() };
    writeJsonAtomic(file(), c);
  });
}
