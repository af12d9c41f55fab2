import type { Digest } from './types.js';

/**
 * The containers that use images, as their supervisors recorded them. The image store never reads
 * containers' state files itself (they are supervise's, DESIGN §2: image imports only util): the
 * caller hands in this lookup, so `image rm` and `image prune` see every container supervise knows.
 */
export type ImageUsers = () => Promise<ReadonlyArray<{ name: string; imageId?: string }>>;

/** State files of older releases recorded the bare hex id. */
export function imageIdOf(recorded: string): Digest {
  return (recorded.startsWith('sha256:') ? recorded : `sha256:${recorded}`) as Digest;
}
