import { lstat, mkdir, readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { Readable, Writable } from 'node:stream';
import { host, stderrOf, VesselError } from '../util/index.js';
import { paths } from './store.js';
import { readLayerDeletes } from './layer.js';
import { tarForms } from './tar-forms.js';
import type { Digest } from './types.js';

/**
 * Remove `rel` under `root`, but only if every directory on the way is a real directory: a
 * symlink made by a lower layer must never lead a deletion out of the tree (overlayfs resolves
 * such paths inside the mount; a plain directory tree would follow the link to the host).
 */
async function removeInside(root: string, rel: string, onlyChildren = false): Promise<void> {
  const parts = rel.split('/').filter((p) => p && p !== '.');
  let p = root;
  for (const c of onlyChildren ? parts : parts.slice(0, -1)) {
    p = join(p, c);
    const st = await lstat(p).catch(() => undefined);
    if (!st || !st.isDirectory()) return;
  }
  if (onlyChildren) {
    for (const n of await readdir(p)) await rm(join(p, n), { recursive: true, force: true });
  } else if (parts.length) {
    await rm(join(root, ...parts), { recursive: true, force: true });
  }
}

/**
 * Apply layers, base first, onto a plain directory: the root filesystem where there is no
 * overlayfs (FreeBSD without a ZFS store; also `image export --format tar` could use it).
 * Deletions come from the layer's recorded whiteouts; contents are copied by tar (tar-forms.ts),
 * which replaces a lower layer's symlink by the upper layer's directory instead of writing
 * through it (bsdtar refuses to extract through a symlink at all).
 */
export async function flattenInto(diffIds: Digest[], target: string): Promise<void> {
  await mkdir(target, { recursive: true, mode: 0o755 });
  for (const id of diffIds) await applyLayer(id, target);
}

/** Apply one layer onto a directory holding the layers below it (flattened copy, ZFS clone). */
export async function applyLayer(id: Digest, target: string): Promise<void> {
  const del = await readLayerDeletes(id);
  for (const d of del.opaqueDirs) await removeInside(target, d, true);
  for (const w of del.whiteouts) await removeInside(target, w);
  await copyTree(paths.layer(id), target);
  // Linux: the overlay whiteout nodes were copied along; they are markers, not files.
  for (const w of del.whiteouts) await removeInside(target, w);
}

async function copyTree(from: string, to: string): Promise<void> {
  const forms = tarForms();
  const src = host().spawn(forms.copyOut(from), { stdio: ['ignore', 'pipe', 'pipe'] });
  const dst = host().spawn(forms.copyIn(to), { stdio: ['pipe', 'ignore', 'pipe'] });
  const errs = [stderrOf(src), stderrOf(dst)];
  (src.pipes[1] as Readable).pipe(dst.pipes[0] as Writable);
  const [a, b] = await Promise.all([src.exited, dst.exited]);
  if (a.code === 0 && b.code === 0) return;
  await Promise.all(errs.map((e) => e.done()));
  throw new VesselError('E_HOST', `copying layer ${from}: ${errs.map((e) => e.last()).filter(Boolean).join(' | ')}`);
}
