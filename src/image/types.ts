/**
 * What the rest of vessel knows of an image. The store (image/) is content-addressed: layers are
 * unpacked once under their diff id and shared by every container and image that uses them.
 */

/** sha256:<64 hex>. */
export type Digest = `sha256:${string}`;

export interface ImageRef {
  name: string;
  tag: string;
}

/** The parts of an OCI image config that running a container uses. */
export interface ImageConfig {
  cmd?: string[];
  entrypoint?: string[];
  env?: string[];
  workdir?: string;
  user?: string;
  /** "80/tcp" … */
  exposedPorts?: string[];
  volumes?: string[];
  labels?: Record<string, string>;
  stopSignal?: string;
}

export interface ImageRecord {
  /** Image id: the digest of its config/manifest. */
  id: Digest;
  name: string;
  tag: string;
  /** Layer diff ids, base first. */
  layers: Digest[];
  config: ImageConfig;
  created: string;
  /** Unpacked size in bytes. */
  size: number;
  os: string;
  architecture: string;
}

/** An image resolved for running: layer directories on disk, base first. */
export interface ResolvedImage {
  record: ImageRecord;
  layerDirs: string[];
}
