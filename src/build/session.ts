import { lstatSync } from 'node:fs';
import { mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { paths, commitLayers, canonicalJson, toOciConfig, type Descriptor, type StagedLayer, type StoredImage, type OciImageConfig } from '../image/index.js';
import type { Digest, ImageConfig } from '../image/index.js';
import { substitute } from './vesselfile.js';
import { envPairs } from '../spec/index.js';
import { cacheKey, lookup, remember, type CachedLayer } from './cache.js';
import type { BuildOptions } from './build.js';

/** The image as the steps so far made it. */
export interface ImageState {
  layers: Digest[];
  layerBlobs: Descriptor[];
  layerSizes: number[];
  config: ImageConfig;
  os: string;
  architecture: string;
  history: NonNullable<OciImageConfig['history']>;
}

export interface Where {
  file: string;
  line: number;
}

/** Bumped when what a step produces for the same inputs changes (3: FreeBSD RUN layers hold the step's deletions). */
const CACHE_VERSION = 'vessel-build-3';

const stateKey = (s: ImageState) => cacheKey([canonicalJson({ layers: s.layers, config: s.config, os: s.os, arch: s.architecture })]);

export function ociConfig(s: ImageState, created: string): OciImageConfig {
  return { created, architecture: s.architecture, os: s.os, config: toOciConfig(s.config), rootfs: { type: 'layers', diff_ids: s.layers }, history: s.history };
}

/**
 * One build in progress: the image state the steps change, the ARGs, the staging directory the
 * build holds (so `image prune` leaves its layers alone), and the layer cache. Each instruction
 * kind is a function of its own (build/steps/) acting on this.
 */
export class BuildSession {
  readonly args = new Map<string, string>();
  readonly declared = new Set<string>();
  private trees = 0;

  constructor(
    readonly opts: BuildOptions,
    readonly staging: string,
    public state: ImageState,
    readonly say: (line: string) => void,
  ) {}

  /** ${VAR} with the build's ARGs and the image's ENV so far. */
  sub(s: string): string {
    return substitute(s, new Map([...this.args, ...envPairs(this.state.config.env)]));
  }

  layerDirs(): string[] {
    return this.state.layers.map((l) => paths.layer(l));
  }

  configOnly(createdBy: string, change: Partial<ImageConfig>): void {
    const s = this.state;
    this.state = { ...s, config: { ...s.config, ...change }, history: [...s.history, { created: new Date().toISOString(), created_by: createdBy, empty_layer: true }] };
  }

  private addLayer(l: CachedLayer, createdBy: string): void {
    const s = this.state;
    this.state = {
      ...s,
      layers: [...s.layers, l.diffId],
      layerBlobs: [...s.layerBlobs, l.blob],
      layerSizes: [...s.layerSizes, l.size],
      history: [...s.history, { created: new Date().toISOString(), created_by: createdBy }],
    };
  }

  /** A cached layer, or make it, commit it and remember it. */
  async cachedLayer(keyParts: string[], createdBy: string, make: () => Promise<StagedLayer>): Promise<void> {
    const key = cacheKey([CACHE_VERSION, stateKey(this.state), ...keyParts]);
    const hit = this.opts.noCache ? undefined : await lookup(key);
    if (hit) {
      this.say(' ---> using cache');
      this.addLayer(hit, createdBy);
      return;
    }
    const staged = await make();
    await commitLayers([staged]);
    const layer: CachedLayer = { diffId: staged.diffId, blob: staged.blob, size: staged.size };
    await remember(key, layer);
    this.addLayer(layer, createdBy);
  }

  /** A fresh directory in the staging area to assemble a layer's tree in. */
  async newTree(): Promise<string> {
    const t = join(this.staging, `tree-${++this.trees}`);
    await mkdir(t, { mode: 0o755 });
    return t;
  }
}

export function fromStored(s: StoredImage, history: ImageState['history']): ImageState {
  return { layers: [...s.layers], layerBlobs: [...s.layerBlobs], layerSizes: [...s.layerSizes], config: { ...s.config }, os: s.os, architecture: s.architecture, history };
}

export async function baseHistory(s: StoredImage): Promise<ImageState['history']> {
  try {
    const cfg = JSON.parse(await readFile(paths.blob(s.id), 'utf8')) as OciImageConfig;
    if (Array.isArray(cfg.history)) return cfg.history;
  } catch {
    /* no readable history: start a fresh one */
  }
  return s.layers.map(() => ({ created_by: 'base layer' }));
}

/** What `path` is in the image made of `layerDirs` (top layer first, whiteouts honoured). */
export function kindInImage(layerDirs: string[], path: string): 'dir' | 'other' | undefined {
  for (const dir of [...layerDirs].reverse()) {
    try {
      const st = lstatSync(join(dir, path));
      if (st.isCharacterDevice() && st.rdev === 0) return undefined;
      return st.isDirectory() ? 'dir' : 'other';
    } catch {
      /* not in this layer */
    }
  }
  return undefined;
}

