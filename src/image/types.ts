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
  /** docker's HEALTHCHECK (not in the OCI spec; docker, buildah and podman write it): the default check. */
  healthcheck?: ImageHealthcheck;
}

/**
 * An image's health check as docker records it in the config's `Healthcheck` (moby
 * api/types/container HealthConfig): durations in nanoseconds, 0 or absent meaning "the default".
 */
export interface ImageHealthcheck {
  /** ["NONE"], ["CMD", argv…] or ["CMD-SHELL", script]. */
  test: string[];
  interval?: number;
  timeout?: number;
  startPeriod?: number;
  retries?: number;
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
