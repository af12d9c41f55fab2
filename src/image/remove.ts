import { VesselError } from '../util/index.js';
import { ID_ANNOTATION, readIndex, refOf, withStoreLock, writeIndex } from './store.js';
import { findImage } from './list.js';
import { formatImageRef } from './ref.js';
import type { Digest } from './types.js';
import { imageIdOf, type ImageUsers } from './users.js';

/** Names of the containers that use image `id`. */
export async function containersUsing(id: Digest, users: ImageUsers): Promise<string[]> {
  return (await users())
    .filter((c) => c.imageId !== undefined && imageIdOf(c.imageId) === id)
    .map((c) => c.name)
    .sort();
}

export interface RemoveResult {
  untagged: string[];
  /** The image id when no tag points at it any more (its blobs go at the next prune). */
  deleted?: Digest;
}

/**
 * `vessel image rm REF`: untag NAME:TAG, or every tag of an image given by id. Refused while a
 * container uses the image. Blobs and layers are left for `image prune`, which removes what no
 * tag references, so rm is quick and a concurrent import never loses a layer it shares.
 */
export async function removeImage(text: string, opts: { users: ImageUsers; force?: boolean }): Promise<RemoveResult> {
  return withStoreLock(async () => {
    const { stored, ref } = await findImage(text);
    const hex = text.replace(/^sha256:/, '');
    const byId = /^[0-9a-f]{6,64}$/.test(hex) && stored.id.slice(7).startsWith(hex);
    const idx = await readIndex();
    const tagsOfImage = idx.manifests.filter((d) => d.annotations?.[ID_ANNOTATION] === stored.id && refOf(d));
    const target = byId || !ref ? tagsOfImage.map((d) => refOf(d)!) : [formatImageRef(ref)];
    const remaining = tagsOfImage.filter((d) => !target.includes(refOf(d)!));
    if (remaining.length === 0 && !opts.force) {
      const users = await containersUsing(stored.id, opts.users);
      if (users.length) {
        throw new VesselError('E_IN_USE', `image "${text}" is used by container${users.length > 1 ? 's' : ''} ${users.join(', ')}`, {
          hint: `remove the container${users.length > 1 ? 's' : ''} first (vessel rm ${users.join(' ')})`,
        });
      }
    }
    writeIndex({ ...idx, manifests: idx.manifests.filter((d) => !target.includes(refOf(d) ?? '')) });
    return remaining.length === 0 ? { untagged: target, deleted: stored.id } : { untagged: target };
  });
}
