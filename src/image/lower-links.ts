import { link, lstat, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { run, VesselError } from '../util/index.js';
import { readLayerDeletes, type LayerDeletes, type StagedLayer } from './layer.js';
import { paths } from './store.js';
import { tarForms } from './tar-forms.js';
import { printableText } from './tar-headers.js';
import type { Digest } from './types.js';

/**
 * Hard links across layers. An OCI layer is a diff: when a file of a lower layer gains a second
 * name, the layer holds only the link, naming a file it does not contain (tar writers record what
 * changed). vessel keeps each layer in its own directory, so the link cannot be made at unpack
 * time; the extraction writes an empty placeholder instead (see EntryChecker), and once every
 * layer of the image is unpacked, each placeholder becomes a copy of the file the link names —
 * found in the nearest layer below that has it, honouring that layer's deletions — with its owner,
 * mode, times (and on Linux xattrs), made by the host's cp. Several links to the same lower file
 * within one layer become hard links of one copy.
 */
interface LayerInStack {
  /** The layer's directory: staged, or already in the store. */
  dir: string;
  deletes: LayerDeletes;
  /** Its placeholders (staged layers only). */
  staged?: StagedLayer;
}

/** The stack of an image's layers, base first: staged ones as they are, the others from the store. */
async function layerStack(layers: ImageLayers): Promise<LayerInStack[]> {
  const out: LayerInStack[] = [];
  for (const l of layers) {
    if (l.staged) out.push({ dir: l.staged.layerDir, deletes: l.staged.deletes ?? { whiteouts: [], opaqueDirs: [] }, staged: l.staged });
    else out.push({ dir: paths.layer(l.diffId), deletes: await readLayerDeletes(l.diffId) });
  }
  return out;
}

/** An image's layers, base first: staged ones, and those already in the store. */
export type ImageLayers = Array<{ diffId: Digest; staged: StagedLayer | undefined }>;

/**
 * Fill in every staged layer's placeholders from the layers below it. `source` names the image.
 * Most images have none: then no stored layer's deletions record is read.
 */
export async function linkLowerFiles(layers: ImageLayers, source: string): Promise<void> {
  if (!layers.some((l) => l.staged?.links?.length)) return;
  const stack = await layerStack(layers);
  const done = new Set<StagedLayer>();
  for (const [i, layer] of stack.entries()) {
    const s = layer.staged;
    if (!s?.links?.length || done.has(s)) continue;
    done.add(s);
    const copies = new Map<string, string>();
    for (const l of s.links) {
      const where = `${source}: layer ${s.blob.digest}: entry "${printableText(l.name)}"`;
      const placeholder = join(s.layerDir, l.name);
      const st = await lstat(placeholder).catch(() => undefined);
      // Replaced later in the same layer by something else: nothing to fill in.
      if (!st?.isFile()) continue;
      const first = copies.get(l.target);
      await unlink(placeholder);
      if (first !== undefined) {
        await link(first, placeholder);
        continue;
      }
      const from = await findBelow(stack, i, l.target);
      if (from === undefined) throw new VesselError('E_ARCHIVE', `${where}: hardlink target "${printableText(l.target)}" is in no layer below`);
      const kind = await lstat(from);
      if (!kind.isFile() && !kind.isSymbolicLink()) throw new VesselError('E_ARCHIVE', `${where}: hardlink target "${printableText(l.target)}" is not a regular file in the layer below`);
      await run(tarForms().copyPath(from, placeholder, true));
      copies.set(l.target, placeholder);
    }
  }
}

/** The path of `target` in the nearest layer below `above` holding it, unless a layer between deletes it. */
async function findBelow(stack: LayerInStack[], above: number, target: string): Promise<string | undefined> {
  const parts = target.split('/');
  for (let j = above - 1; j >= 0; j--) {
    const layer = stack[j]!;
    const found = await inside(layer.dir, parts);
    if (found === 'file') return join(layer.dir, ...parts);
    // A whiteout (overlay's 0/0 node, or the recorded deletion) or an opaque directory on the
    // way hides everything below.
    if (found === 'whiteout' || deletedBy(layer.deletes, parts)) return undefined;
  }
  return undefined;
}

function deletedBy(d: LayerDeletes, parts: string[]): boolean {
  for (let k = 1; k <= parts.length; k++) {
    const p = parts.slice(0, k).join('/');
    if (d.whiteouts.includes(p)) return true;
    if (k < parts.length && d.opaqueDirs.includes(p)) return true;
  }
  return d.opaqueDirs.includes('') && parts.length > 0;
}

/**
 * Look `parts` up under `dir` without following a symlink on the way (a lower layer's symlink
 * must not lead the copy out of the store).
 */
async function inside(dir: string, parts: string[]): Promise<'file' | 'whiteout' | 'absent'> {
  let p = dir;
  for (const [k, c] of parts.entries()) {
    p = join(p, c);
    const st = await lstat(p).catch(() => undefined);
    if (!st) return 'absent';
    if (st.isCharacterDevice() && st.rdev === 0) return 'whiteout';
    if (k < parts.length - 1 && !st.isDirectory()) return 'absent';
    if (k === parts.length - 1) return st.isDirectory() ? 'absent' : 'file';
  }
  return 'absent';
}
