import type { Stats } from 'node:fs';
import { lstat, mkdir, readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { Readable, Writable } from 'node:stream';
import { host, stderrOf, VesselError } from '../util/index.js';
import { paths } from './store.js';
import { readLayerDeletes } from './layer.js';
import { tarForms } from './tar-forms.js';
import type { Digest } from './types.js';

const partsOf = (rel: string) => rel.split('/').filter((p) => p && p !== '.');

/**
 * `parts` joined under `root`, but only if every one of them is a real directory: a symlink
 * made by a lower layer must never lead a deletion out of the tree (overlayfs resolves such
 * paths inside the mount; a plain directory tree would follow the link to the host).
 */
async function dirInside(root: string, parts: string[]): Promise<string | undefined> {
  let p = root;
  for (const c of parts) {
    p = join(p, c);
    const st = await lstat(p).catch(() => undefined);
    if (!st || !st.isDirectory()) return undefined;
  }
  return p;
}

/** Remove `rel` under `root` (or, onlyChildren, what is in it), never through a symlink. */
async function removeInside(root: string, rel: string, onlyChildren = false): Promise<void> {
  const parts = partsOf(rel);
  if (onlyChildren) {
    const dir = await dirInside(root, parts);
    if (dir === undefined) return;
    // names as bytes: one that is not UTF-8 would come back from a text readdir as another name
    const prefix = Buffer.from(`${dir}/`);
    for (const n of await readdir(dir, { encoding: 'buffer' })) await rm(Buffer.concat([prefix, n]), { recursive: true, force: true });
    return;
  }
  const parent = parts.length ? await dirInside(root, parts.slice(0, -1)) : undefined;
  if (parent !== undefined) await rm(join(parent, parts.at(-1)!), { recursive: true, force: true });
}

/** What a layer directory holds at `rel` (found as removeInside walks): undefined when nothing. */
async function entryInside(root: string, rel: string): Promise<Stats | undefined> {
  const parts = partsOf(rel);
  const parent = parts.length ? await dirInside(root, parts.slice(0, -1)) : undefined;
  return parent === undefined ? undefined : lstat(join(parent, parts.at(-1)!)).catch(() => undefined);
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
  const layer = paths.layer(id);
  for (const d of del.opaqueDirs) await removeInside(target, d, true);
  for (const w of del.whiteouts) await removeInside(target, w);
  await copyTree(layer, target);
  // Linux: the overlay whiteout nodes (0/0 character devices) were copied along; they are
  // markers, not files. Anything else the layer holds at a whited-out path is the layer's own new
  // entry (a directory replaced by a file, OCI: whiteouts apply to the layers below only) and stays.
  for (const w of del.whiteouts) {
    const own = await entryInside(layer, w);
    if (own?.isCharacterDevice() && own.rdev === 0) await removeInside(target, w);
  }
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
