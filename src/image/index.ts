/** What the rest of vessel may use of the image store. */
export type { Digest, ImageRef, ImageConfig, ImageRecord, ResolvedImage } from './types.js';
export { parseImageRef, formatImageRef } from './ref.js';
export { importRootfsTarball, type ImportOptions, type Progress } from './import-rootfs.js';
export { listImages, resolveImage, findImage } from './list.js';
export { removeImage, containersUsing, type RemoveResult } from './remove.js';
export type { ImageUsers } from './users.js';
export { defaultLimits, type ExtractLimits } from './validate.js';
export { importImage, detectFormat, importIso, type ImportFormat, type ImageImportOptions } from './import.js';
export { importOciArchive } from './oci-import.js';
export { importAci } from './aci.js';
export { exportImage, type ExportFormat, type ExportOptions } from './export.js';
export { pruneImages, tagImage, type PruneResult } from './prune.js';
export { withMergedRoot, flattenInto, applyLayer } from './flatten.js';
export { planZfsLayers, ensureZfsLayers, chainIds, type ZfsLayerPlan } from './zfs.js';
export { buildBaseImage, baseTarArgv, baseAccounts, BASE_IMAGE_CONFIG, BASE_HOST_FILES } from './base.js';
