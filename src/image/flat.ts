import { existsSync } from 'node:fs';
import { mkdir, rename } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { dropStaging, makeStaging, paths, withStoreLock } from './store.js';
import { readLayerDeletes } from './layer.js';
import { flattenInto } from './flatten.js';
import { chainIds } from './zfs.js';
import type { Digest } from './types.js';

/**
 * The lower directories of a root filesystem where nothing reads OCI deletions: FreeBSD without
 * a ZFS store stacks the layers with nullfs and unionfs, and unionfs knows nothing of whiteouts,
 * so a file a higher layer deleted would show through. When no layer above the first deletes
 * anything, the layers stack as they are. Otherwise the chain is applied once, deletions
 * honoured (flattenInto), into one directory named after its top ChainID — made in staging and
 * renamed into place under the store lock, shared by every container of every image with that
 * chain, removed by `image prune` with the last image that has it (as a ZFS store keeps one
 * snapshot per chain). `make`: false only names it (a plan).
 */
export async function unionLowerDirs(diffIds: Digest[], opts: { make: boolean }): Promise<string[]> {
  const dirs = diffIds.map((d) => paths.layer(d));
  if (!(await deletesAbove(diffIds))) return dirs;
  const top = chainIds(diffIds).at(-1)!;
  const flat = paths.flat(top);
  if (!opts.make || existsSync(flat)) return [flat];
  await withStoreLock(async () => {
    if (existsSync(flat)) return; // made meanwhile by another start
    const staging = await makeStaging('flat');
    try {
      const tree = join(staging, 'root');
      await flattenInto(diffIds, tree);
      // one rename: a start never sees half a tree, a crash leaves only staging (prune's to remove)
      await mkdir(dirname(flat), { recursive: true });
      await rename(tree, flat);
    } finally {
      await dropStaging(staging);
    }
  });
  return [flat];
}

async function deletesAbove(diffIds: Digest[]): Promise<boolean> {
  for (const d of diffIds.slice(1)) {
    const del = await readLayerDeletes(d);
    if (del.whiteouts.length > 0 || del.opaqueDirs.length > 0) return true;
  }
  return false;
}

/** The flattened chains `image prune` keeps: the top ChainID of every image that stays. */
export function keptFlatNames(layerLists: Digest[][]): Set<string> {
  return new Set(layerLists.filter((l) => l.length > 0).map((l) => chainIds(l).at(-1)!.replace(/^sha256:/, '')));
}
