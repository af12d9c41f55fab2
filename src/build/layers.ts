import type { Readable } from 'node:stream';
import { join } from 'node:path';
import type tarStream from 'tar-stream';
import { host, run, stderrOf, VesselError } from '../util/index.js';
import { retar, tarForms, type OutHeader, stageLayerFile, stageLayerStream, type StagedLayer } from '../image/index.js';

/**
 * The two ways a build step makes a layer: from a directory tree it prepared (COPY, ADD,
 * WORKDIR), and from a RUN container's overlay upper directory, whose deletions overlayfs wrote
 * as 0/0 character devices and opaque xattrs — turned into OCI whiteout files here, and back
 * into overlay form when the layer is unpacked into the store (the blob is portable OCI).
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
