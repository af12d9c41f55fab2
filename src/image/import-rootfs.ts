import { basename } from 'node:path';
import { dropStaging, makeStaging, readIndex, withStoreLock } from './store.js';
import { commitLayers, stageLayerFile, type Progress } from './layer.js';
import { findEquivalent, registerImage, setTag } from './commit.js';
import { hostArchitecture, hostOs, type OciImageConfig } from './oci-config.js';
import { formatImageRef, parseImageRef } from './ref.js';
import { toImageRecord } from './list.js';
import type { ImageRecord } from './types.js';
import type { ExtractLimits } from './validate.js';

export type { Progress };

export interface ImportOptions {
  onProgress?: (p: Progress) => void;
  limits?: Partial<ExtractLimits>;
  /** The OS the root filesystem is for (default: this host's); `image base` builds FreeBSD's anywhere. */
  os?: string;
  /** Image configuration (Env, Cmd …) to record instead of an empty one. */
  imageConfig?: OciImageConfig['config'];
  /** The history line (default: `vessel image import FILE`). */
  createdBy?: string;
  /** Stops the import (its caller went away): nothing reaches the store. */
  signal?: AbortSignal;
  /** As StageOptions.stopAt (image/import.ts's format detection). */
  stopAt?: (name: string) => Error | undefined;
}

/**
 * `vessel image import FILE NAME[:TAG]` for a root filesystem tarball (.tar, .tar.gz/.tgz,
 * .tar.xz, .tar.zst — recognised by content): a one-layer image with an empty config.
 */
export async function importRootfsTarball(file: string, ref: string, opts: ImportOptions = {}): Promise<ImageRecord> {
  const imageRef = parseImageRef(ref);
  const staging = await makeStaging('import');
  try {
    const layer = await stageLayerFile(file, staging, opts);
    await commitLayers([layer]);
    const created = new Date().toISOString();
    const config: OciImageConfig = {
      created,
      architecture: hostArchitecture(),
      os: opts.os ?? hostOs(),
      config: opts.imageConfig ?? {},
      rootfs: { type: 'layers', diff_ids: [layer.diffId] },
      history: [{ created, created_by: opts.createdBy ?? `vessel image import ${basename(file)}` }],
    };
    const same = await findEquivalent([layer.diffId], config);
    if (same) {
      await withStoreLock(async () => setTag(await readIndex(), same, formatImageRef(imageRef)));
      return toImageRecord(same, imageRef);
    }
    const rec = await registerImage({ config, layerBlobs: [layer.blob], layerSizes: [layer.size] }, imageRef);
    return toImageRecord(rec, imageRef);
  } finally {
    // Kept until the image is registered: `image prune` leaves the store alone while it exists.
    await dropStaging(staging);
  }
}
