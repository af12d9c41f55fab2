import { existsSync } from 'node:fs';
import { mkdir, rename } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { hostOs, run } from '../util/index.js';
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
 * honoured (flattenInto), into one directory named after its top ChainID, shared by every
 * container of every image with that chain, removed by `image prune` with the last image that
 * has it (as a ZFS store keeps one snapshot per chain). `make`: false only names it (a plan).
 *
 * The copy is made in staging WITHOUT the store lock: a whole image copied under it would hold
 * every import, pull and prune for as long (and fail them after the lock's timeout). The live
 * staging directory already keeps prune off the layers being read. The lock is taken only for
 * the check-and-rename; a start that lost the race to another drops its copy.
 */
export async function unionLowerDirs(diffIds: Digest[], opts: { make: boolean }): Promise<string[]> {
  const dirs = diffIds.map((d) => paths.layer(d));
  if (diffIds.length < 2) return dirs; // only a layer above the first deletes anything
  const flat = paths.flat(chainIds(diffIds).at(-1)!);
  // made by an earlier start (only chains with deletions are flattened): no layer record read
  if (existsSync(flat)) return [flat];
  if (!(await deletesAbove(diffIds))) return dirs;
  if (!opts.make) return [flat];
  const staging = await makeStaging('flat');
  try {
    const tree = join(staging, 'root');
    await flattenInto(diffIds, tree);
    // one rename: a start never sees half a tree, a crash leaves only staging (prune's to remove)
    await withStoreLock(async () => {
      if (existsSync(flat)) return; // made meanwhile by another start: this copy is dropped below
      await mkdir(dirname(flat), { recursive: true });
      await rename(tree, flat);
    });
  } finally {
    await dropStaging(staging);
  }
  return [flat];
}

async function deletesAbove(diffIds: Digest[]): Promise<boolean> {
  for (const d of diffIds.slice(1)) {
    const del = await readLayerDeletes(d);
    if (del.whiteouts.length > 0 || del.opaqueDirs.length > 0) return true;
  }
  return false;
}

/**
 * Give `fn` one directory showing the image's merged root filesystem (whiteouts applied). A
 * single layer that deletes nothing is its own merged root. Otherwise, on Linux, a read-only
 * overlay of the layer directories (an empty directory is always added at the bottom: overlayfs
 * refuses a lower-only mount with a single lower directory); on FreeBSD, which has no overlayfs,
 * the chain's flattened directory a start uses (unionLowerDirs: made once, shared) when the chain
 * deletes anything, else the layers applied onto a staging directory (flattenInto). The staging
 * directory lives while `fn` runs either way: prune keeps layers and flattened chains meanwhile.
 */
export async function withMergedRoot<T>(diffIds: Digest[], fn: (dir: string) => Promise<T>): Promise<T> {
  if (diffIds.length === 1) {
    const d = await readLayerDeletes(diffIds[0]!);
    if (d.whiteouts.length === 0 && d.opaqueDirs.length === 0) return fn(paths.layer(diffIds[0]!));
  }
  const staging = await makeStaging('flatten');
  const merged = join(staging, 'merged');
  let mounted = false;
  try {
    if (hostOs() === 'freebsd') {
      const [one, ...more] = await unionLowerDirs(diffIds, { make: true });
      if (one !== undefined && more.length === 0) return await fn(one);
      await flattenInto(diffIds, merged);
    } else {
      const empty = join(staging, 'empty');
      await mkdir(empty);
      await mkdir(merged);
      const lower = diffIds.map((id) => paths.layer(id)).reverse().concat(empty).join(':');
      await run(['mount', '-t', 'overlay', 'overlay', '-o', `ro,lowerdir=${lower}`, merged]);
      mounted = true;
    }
    return await fn(merged);
  } finally {
    if (mounted) await run(['umount', merged], { allowFailure: true });
    await dropStaging(staging);
  }
}

/** The flattened chains `image prune` keeps: the top ChainID of every image that stays. */
export function keptFlatNames(layerLists: Digest[][]): Set<string> {
  return new Set(layerLists.filter((l) => l.length > 0).map((l) => chainIds(l).at(-1)!.replace(/^sha256:/, '')));
}
