/** What the rest of vessel may use of the image store. */
export type { Digest, ImageRef, ImageConfig, ImageRecord, ResolvedImage } from './types.js';
export { parseImageRef, formatImageRef } from './ref.js';
export { importRootfsTarball, type ImportOptions, type Progress } from './import-rootfs.js';
export { listImages, resolveImage, findImage } from './list.js';
export { removeImage, containersUsing, type RemoveResult } from './remove.js';
export { defaultLimits, type ExtractLimits } from './validate.js';
