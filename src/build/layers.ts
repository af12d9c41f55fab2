import { writeFile } from 'node:fs/promises';
import { PassThrough, type Readable } from 'node:stream';
import { join } from 'node:path';
import type tarStream from 'tar-stream';
import { host, run, stderrOf, VesselError } from '../util/index.js';
import { emptyFileEntry, retar, tarForms, type OutHeader, stageLayerFile, stageLayerStream, type StagedLayer } from '../image/index.js';
import { OPAQUE_MARKER, WHITEOUT_PREFIX, type RootDiff } from './root-diff.js';

/**
 * The ways a build step makes a layer: from a directory tree it prepared (COPY, ADD, WORKDIR);
 * from a RUN container's overlay upper directory (Linux), whose deletions overlayfs wrote as 0/0
 * character devices and opaque xattrs — turned into OCI whiteout files here, and back into
 * overlay form when the layer is unpacked into the store (the blob is portable OCI); and from a
 * RUN container's live root and what root-diff.ts found changed in it (FreeBSD).
 */
export async function layerFromTree(tree: string, staging: string, source: string): Promise<StagedLayer> {
  const tarFile = join(staging, `tree-${Date.now()}-${Math.random().toString(36).slice(2)}.tar.gz`);
  await run(tarForms().createTreeLayer(tree, tarFile));
  return stageLayerFile(tarFile, staging, { source });
}

const OVERLAY_XATTR = 'SCHILY.xattr.trusted.overlay.';

/** Map one entry of a tar of an overlay upper dir to OCI form. Pure. */
export function upperEntryToOci(h: tarStream.Header): OutHeader | OutHeader[] {
  const pax = h.pax as Record<string, string> | undefined;
  const opaque = pax?.[`${OVERLAY_XATTR}opaque`] === 'y';
  const cleanPax = pax ? Object.fromEntries(Object.entries(pax).filter(([k]) => !k.startsWith(OVERLAY_XATTR))) : undefined;
  const base: OutHeader = { ...h, ...(cleanPax ? { pax: cleanPax } : {}) };
  if (h.type === 'character-device' && !h.devmajor && !h.devminor) {
    const name = h.name.replace(/\/$/, '');
    const slash = name.lastIndexOf('/');
    const wh = `${name.slice(0, slash + 1)}.wh.${name.slice(slash + 1)}`;
    return { name: wh, type: 'file', size: 0, mode: 0o644, uid: 0, gid: 0, mtime: h.mtime ?? new Date(0) };
  }
  if (opaque && h.type === 'directory') {
    const dir = h.name.replace(/\/$/, '');
    return [base, { name: `${dir === '.' ? '.' : dir}/.wh..wh..opq`, type: 'file', size: 0, mode: 0o644, uid: 0, gid: 0, mtime: h.mtime ?? new Date(0) }];
  }
  return base;
}

export async function layerFromUpper(upper: string, staging: string, source: string): Promise<StagedLayer> {
  const child = host().spawn(tarForms().streamTree(upper), { stdio: ['ignore', 'pipe', 'pipe'] });
  const stderr = stderrOf(child);
  const converted = retar(child.pipes[1] as Readable, upperEntryToOci);
  const upstream = child.exited.then(async ({ code }) => {
    if (code !== 0) {
      await stderr.done();
      throw new VesselError('E_HOST', `tar of ${upper} failed: ${stderr.last(1) || `exit ${code}`}`);
    }
    return converted.done;
  });
  upstream.catch(() => undefined);
  try {
    return await stageLayerStream(converted.output, staging, { source, whiteouts: true, upstream });
  } finally {
    child.kill('SIGKILL');
  }
}

let lists = 0;

/**
 * A RUN step's layer from its root as the step left it (still mounted: a unionfs stack or a ZFS
 * clone) and the diff of its listings: the whiteout and opaque markers first — an applier that
 * goes through the stream in order (containerd, docker) removes what a `.wh.NAME` names when it
 * meets it, so the marker must come before the new entry of that name — then what changed,
 * archived by tar from the root, each path alone (tar-forms.ts streamPaths: a NUL-separated
 * list, so every byte of a name goes through). The stream is unpacked and recorded like any
 * OCI layer (whiteouts: true): the markers become the layer's deletions.
 */
export async function layerFromRootDiff(rootfs: string, diff: RootDiff, staging: string, source: string): Promise<StagedLayer> {
  const streamPaths = tarForms().streamPaths;
  if (streamPaths === undefined) throw new VesselError('E_UNSUPPORTED', `${source}: a layer from a root listing is FreeBSD's; Linux reads the overlay upper directory`);
  const markers = [
    ...diff.opaque.map((d) => (d === '' ? OPAQUE_MARKER : `${d}/${OPAQUE_MARKER}`)),
    ...diff.whiteouts.map((p) => {
      const slash = p.lastIndexOf('/');
      return `${p.slice(0, slash + 1)}${WHITEOUT_PREFIX}${p.slice(slash + 1)}`;
    }),
  ].sort().map((m) => emptyFileEntry(`./${m}`));
  const list = join(staging, `run-paths-${++lists}`);
  await writeFile(list, Buffer.from(diff.emit.map((p) => `./${p}\0`).join(''), 'latin1'), { mode: 0o600 });
  const child = host().spawn(streamPaths(rootfs, list), { stdio: ['ignore', 'pipe', 'pipe'] });
  const stderr = stderrOf(child);
  const tar = new PassThrough({ highWaterMark: 1 << 20 });
  tar.write(Buffer.concat(markers));
  (child.pipes[1] as Readable).pipe(tar);
  const upstream = child.exited.then(async ({ code }) => {
    if (code === 0) return;
    await stderr.done();
    throw new VesselError('E_HOST', `tar of the changes in ${rootfs} failed: ${stderr.last(1) || `exit ${code}`}`);
  });
  upstream.catch(() => undefined);
  try {
    return await stageLayerStream(tar, staging, { source, whiteouts: true, upstream });
  } finally {
    child.kill('SIGKILL');
  }
}
