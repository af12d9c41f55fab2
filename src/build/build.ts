import { existsSync, lstatSync } from 'node:fs';
import { mkdir, readFile } from 'node:fs/promises';
import { basename, dirname, join, posix } from 'node:path';
import { run, VesselError } from '../util/index.js';
import { dropStaging, makeStaging, paths, readIndex, withStoreLock, type Descriptor, type StoredImage, commitLayers, stageLayerFile, type StagedLayer, findEquivalent, registerImage, setTag, findImage, toImageRecord, canonicalJson, hostArchitecture, hostOs, toOciConfig, type OciImageConfig, detectCompression, readHead, parseImageRef } from '../image/index.js';
import type { Digest, ImageConfig, ImageRecord } from '../image/index.js';
import { parseVesselfile, substitute, VesselfileError, type Instruction } from './vesselfile.js';
import { digestSources, resolveSources } from './context.js';
import { cacheKey, lookup, remember, type CachedLayer } from './cache.js';
import { layerFromTree, layerFromUpper } from './layers.js';
import { runInContainer } from './run-step.js';

export interface BuildOptions {
  /** Path of the Vesselfile (default CONTEXT/Vesselfile). */
  file?: string;
  context: string;
  tag: string;
  noCache?: boolean;
  buildArgs?: Record<string, string>;
  /** Network of RUN containers: none (default, reproducible) or the host's (package installs). */
  network?: 'none' | 'host';
  /** Progress lines ("Step 2/5 : COPY …", "cache hit"). */
  log?: (line: string) => void;
}

interface State {
  layers: Digest[];
  layerBlobs: Descriptor[];
  layerSizes: number[];
  config: ImageConfig;
  os: string;
  architecture: string;
  history: NonNullable<OciImageConfig['history']>;
}

/** Bumped when what a step produces for the same inputs changes. */
const CACHE_VERSION = "vessel-build-2";

const stateKey = (s: State) => cacheKey([canonicalJson({ layers: s.layers, config: s.config, os: s.os, arch: s.architecture })]);

function ociConfig(s: State, created: string): OciImageConfig {
  return { created, architecture: s.architecture, os: s.os, config: toOciConfig(s.config), rootfs: { type: 'layers', diff_ids: s.layers }, history: s.history };
}

/** What `path` is in the image made of `layerDirs` (top layer first, whiteouts honoured). */
function kindInImage(layerDirs: string[], path: string): 'dir' | 'other' | undefined {
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

/** uid:gid for --chown, names looked up in the image's own /etc/passwd and /etc/group. */
async function chownIds(spec: string, layerDirs: string[], where: { file: string; line: number }): Promise<string> {
  const [u, g] = spec.split(':');
  const lookupIn = async (file: string, name: string): Promise<string> => {
    if (/^\d+$/.test(name)) return name;
    for (const dir of [...layerDirs].reverse()) {
      const text = await readFile(join(dir, file), 'utf8').catch(() => undefined);
      if (text === undefined) continue;
      const line = text.split('\n').find((l) => l.split(':')[0] === name);
      if (line) return line.split(':')[2]!;
      break;
    }
    throw new VesselfileError(where.file, where.line, `--chown=${spec}: no ${file === 'etc/passwd' ? 'user' : 'group'} "${name}" in the image`);
  };
  const uid = await lookupIn('etc/passwd', u!);
  const gid = g !== undefined ? await lookupIn('etc/group', g) : /^\d+$/.test(u!) ? uid : await (async () => {
    for (const dir of [...layerDirs].reverse()) {
      const text = await readFile(join(dir, 'etc/passwd'), 'utf8').catch(() => undefined);
      const line = text?.split('\n').find((l) => l.split(':')[0] === u);
      if (line) return line.split(':')[3]!;
    }
    return uid;
  })();
  return `${uid}:${gid}`;
}

function isArchive(head: Buffer): boolean {
  return detectCompression(head) !== 'none' || head.subarray(257, 262).toString('latin1') === 'ustar';
}

/**
 * `vessel build`: run the Vesselfile's steps in order. Config-only steps change the image config;
 * COPY/ADD/WORKDIR make a layer from a prepared tree; RUN makes one from a real container's
 * upper directory. Layers are committed as they are made (content-addressed, cached), the image
 * is registered and tagged at the end. A staging directory is held for the whole build so
 * `image prune` leaves its layers alone.
 */
export async function buildImage(opts: BuildOptions): Promise<ImageRecord> {
  const file = opts.file ?? join(opts.context, 'Vesselfile');
  const fileName = basename(file);
  const ref = parseImageRef(opts.tag);
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch {
    throw new VesselError('E_NOT_FOUND', `${file}: no such file`, { hint: 'vessel build -f FILE, or put a Vesselfile in the context directory' });
  }
  if (!existsSync(opts.context)) throw new VesselError('E_NOT_FOUND', `${opts.context}: build context does not exist`);
  const steps = parseVesselfile(text, fileName);
  const say = opts.log ?? (() => undefined);
  const args = new Map<string, string>();
  const declared = new Set<string>();
  let state: State = { layers: [], layerBlobs: [], layerSizes: [], config: {}, os: hostOs(), architecture: hostArchitecture(), history: [] };
  const staging = await makeStaging('build');
  const sub = (s: string) => substitute(s, vars());
  const vars = () => {
    const m = new Map(args);
    for (const e of state.config.env ?? []) {
      const i = e.indexOf('=');
      m.set(e.slice(0, i), e.slice(i + 1));
    }
    return m;
  };
  const addLayer = (l: CachedLayer, createdBy: string) => {
    state = {
      ...state,
      layers: [...state.layers, l.diffId],
      layerBlobs: [...state.layerBlobs, l.blob],
      layerSizes: [...state.layerSizes, l.size],
      history: [...state.history, { created: new Date().toISOString(), created_by: createdBy }],
    };
  };
  const configOnly = (createdBy: string, change: Partial<ImageConfig>) => {
    state = { ...state, config: { ...state.config, ...change }, history: [...state.history, { created: new Date().toISOString(), created_by: createdBy, empty_layer: true }] };
  };
  const layerDirs = () => state.layers.map((l) => paths.layer(l));
  /** A cached layer, or make it, commit it and remember it. */
  const cachedLayer = async (keyParts: string[], createdBy: string, make: () => Promise<StagedLayer>) => {
    const key = cacheKey([CACHE_VERSION, stateKey(state), ...keyParts]);
    const hit = opts.noCache ? undefined : await lookup(key);
    if (hit) {
      say(' ---> using cache');
      addLayer(hit, createdBy);
      return;
    }
    const staged = await make();
    await commitLayers([staged]);
    const layer: CachedLayer = { diffId: staged.diffId, blob: staged.blob, size: staged.size };
    await remember(key, layer);
    addLayer(layer, createdBy);
  };
  let treeCount = 0;
  const newTree = async () => {
    const t = join(staging, `tree-${++treeCount}`);
    await mkdir(t, { mode: 0o755 });
    return t;
  };

  try {
    for (const [i, step] of steps.entries()) {
      const where = { file: fileName, line: step.line };
      say(`Step ${i + 1}/${steps.length} : ${describe(step)}`);
      try {
        await execute(step, where);
      } catch (e) {
        if (e instanceof VesselError && e.message.startsWith(`${fileName}:`)) throw e;
        const msg = e instanceof Error ? e.message : String(e);
        throw new VesselfileError(fileName, step.line, `${step.kind}: ${msg}`, e instanceof VesselError ? e.hint : undefined);
      }
    }
    const created = new Date().toISOString();
    const finalConfig = ociConfig(state, created);
    // A build that changed nothing gives back the same image (as docker's fully cached build does).
    const same = await findEquivalent(state.layers, finalConfig);
    const rec = same
      ? await withStoreLock(async () => {
          setTag(await readIndex(), same, `${ref.name}:${ref.tag}`);
          return same;
        })
      : await registerImage({ config: finalConfig, layerBlobs: state.layerBlobs, layerSizes: state.layerSizes }, ref);
    say(`Successfully built ${rec.id.slice(7, 19)} as ${ref.name}:${ref.tag}`);
    return toImageRecord(rec, ref);
  } finally {
    await dropStaging(staging);
  }

  async function execute(step: Instruction, where: { file: string; line: number }): Promise<void> {
    switch (step.kind) {
      case 'ARG': {
        declared.add(step.name);
        const v = opts.buildArgs?.[step.name] ?? (step.value === undefined ? undefined : sub(step.value));
        if (v !== undefined) args.set(step.name, v);
        return;
      }
      case 'FROM': {
        const image = sub(step.image);
        if (image === 'scratch') return;
        const { stored } = await findImage(image);
        state = fromStored(stored, await baseHistory(stored));
        return;
      }
      case 'ENV': {
        const env = new Map((state.config.env ?? []).map((e) => [e.slice(0, e.indexOf('=')), e.slice(e.indexOf('=') + 1)]));
        for (const [k, v] of step.pairs) env.set(k, sub(v));
        configOnly(`ENV ${step.pairs.map(([k, v]) => `${k}=${v}`).join(' ')}`, { env: [...env].map(([k, v]) => `${k}=${v}`) });
        return;
      }
      case 'LABEL': {
        const labels = { ...(state.config.labels ?? {}) };
        for (const [k, v] of step.pairs) labels[sub(k)] = sub(v);
        configOnly(`LABEL ${step.pairs.map(([k, v]) => `${k}=${v}`).join(' ')}`, { labels });
        return;
      }
      case 'USER':
        configOnly(`USER ${step.user}`, { user: sub(step.user) });
        return;
      case 'CMD':
        configOnly(`CMD ${JSON.stringify(step.argv)}`, { cmd: step.argv });
        return;
      case 'ENTRYPOINT':
        // docker: setting ENTRYPOINT clears an inherited CMD.
        configOnly(`ENTRYPOINT ${JSON.stringify(step.argv)}`, { entrypoint: step.argv, ...(state.config.cmd ? { cmd: [] } : {}) });
        return;
      case 'EXPOSE': {
        const ports = new Set(state.config.exposedPorts ?? []);
        for (const p of step.ports) {
          const v = sub(p);
          ports.add(v.includes('/') ? v.toLowerCase() : `${v}/tcp`);
        }
        configOnly(`EXPOSE ${step.ports.join(' ')}`, { exposedPorts: [...ports] });
        return;
      }
      case 'VOLUME': {
        const vols = new Set(state.config.volumes ?? []);
        for (const v of step.paths) vols.add(sub(v));
        configOnly(`VOLUME ${JSON.stringify(step.paths)}`, { volumes: [...vols] });
        return;
      }
      case 'WORKDIR': {
        const dir = posix.resolve(state.config.workdir ?? '/', sub(step.path));
        configOnly(`WORKDIR ${dir}`, { workdir: dir });
        if (dir !== '/' && kindInImage(layerDirs(), dir) === undefined) {
          // docker creates a missing WORKDIR; here it is a small layer of its own.
          state.history.pop();
          await cachedLayer([`WORKDIR ${dir}`], `WORKDIR ${dir}`, async () => {
            const tree = await newTree();
            await mkdir(join(tree, dir), { recursive: true, mode: 0o755 });
            return layerFromTree(tree, staging, `${where.file}:${where.line}`);
          });
        }
        return;
      }
      case 'COPY':
      case 'ADD': {
        const sources = await resolveSources(opts.context, step.sources.map(sub), where);
        const destText = sub(step.dest);
        const dest = posix.resolve(state.config.workdir ?? '/', destText);
        const owner = await chownIds(step.chown ? sub(step.chown) : '0:0', layerDirs(), where);
        const digest = await digestSources(sources);
        const createdBy = `${step.kind} ${step.chown ? `--chown=${step.chown} ` : ''}${step.sources.join(' ')} ${step.dest}`;
        await cachedLayer([`${step.kind} ${owner} ${sources.length} ${destText} ${dest}`, digest], createdBy, async () => {
          const tree = await newTree();
          // docker's rule: into the directory when DEST ends in "/", names one already there, or
          // several sources are copied.
          const intoDir = destText.endsWith('/') || destText === '.' || sources.length > 1 || kindInImage(layerDirs(), dest) === 'dir';
          for (const src of sources) {
            const st = lstatSync(src);
            if (step.kind === 'ADD' && st.isFile() && isArchive(await readHead(src, 512))) {
              // ADD unpacks local archives, through the same safe extraction as image imports.
              const target = join(tree, dest);
              await mkdir(target, { recursive: true, mode: 0o755 });
              const unpacked = await stageLayerFile(src, staging, { source: `${where.file}:${where.line}: ${basename(src)}`, keepBlob: false });
              await run(['cp', '-a', `${unpacked.layerDir}/.`, `${target}/`]);
              continue;
            }
            if (st.isDirectory()) {
              const target = join(tree, dest);
              await mkdir(target, { recursive: true, mode: 0o755 });
              await run(['cp', '-a', '--no-preserve=ownership', `${src}/.`, `${target}/`]);
              await run(['chown', '-R', '-h', owner, target]);
            } else {
              const target = intoDir ? join(tree, dest, basename(src)) : join(tree, dest);
              await mkdir(dirname(target), { recursive: true, mode: 0o755 });
              await run(['cp', '-a', '--no-preserve=ownership', src, target]);
              await run(['chown', '-h', owner, target]);
            }
          }
          return layerFromTree(tree, staging, `${where.file}:${where.line}`);
        });
        return;
      }
      case 'RUN': {
        if (state.layers.length === 0) throw new VesselfileError(where.file, where.line, 'RUN needs a base image with a shell (FROM scratch has none)');
        const argv = step.argv;
        const env: Array<[string, string]> = [...args].filter(([k]) => declared.has(k));
        await cachedLayer([`RUN ${JSON.stringify(argv)} ${JSON.stringify(env)}`], `RUN ${step.text}`, async () => {
          // The runtime runs images from the store: the state so far becomes an untagged image.
          const parent = await registerImage({ config: ociConfig(state, new Date().toISOString()), layerBlobs: state.layerBlobs, layerSizes: state.layerSizes }, undefined);
          return runInContainer(
            { imageId: parent.id, argv, env, network: opts.network ?? 'none', ...(state.config.workdir ? { workdir: state.config.workdir } : {}), ...(state.config.user ? { user: state.config.user } : {}) },
            async (status, upper) => {
              if (status.code !== 0) throw new VesselfileError(where.file, where.line, `RUN ${step.text}: ${status.reason}`);
              return layerFromUpper(upper, staging, `${where.file}:${where.line}`);
            },
          );
        });
        return;
      }
    }
  }
}

function describe(step: Instruction): string {
  switch (step.kind) {
    case 'FROM': return `FROM ${step.image}`;
    case 'RUN': return `RUN ${step.text}`;
    case 'COPY': case 'ADD': return `${step.kind} ${step.sources.join(' ')} ${step.dest}`;
    case 'ENV': case 'LABEL': return `${step.kind} ${step.pairs.map(([k, v]) => `${k}=${v}`).join(' ')}`;
    case 'ARG': return `ARG ${step.name}${step.value === undefined ? '' : `=${step.value}`}`;
    case 'WORKDIR': return `WORKDIR ${step.path}`;
    case 'USER': return `USER ${step.user}`;
    case 'CMD': case 'ENTRYPOINT': return `${step.kind} ${JSON.stringify(step.argv)}`;
    case 'EXPOSE': return `EXPOSE ${step.ports.join(' ')}`;
    case 'VOLUME': return `VOLUME ${JSON.stringify(step.paths)}`;
  }
}

function fromStored(s: StoredImage, history: State['history']): State {
  return { layers: [...s.layers], layerBlobs: [...s.layerBlobs], layerSizes: [...s.layerSizes], config: { ...s.config }, os: s.os, architecture: s.architecture, history };
}

async function baseHistory(s: StoredImage): Promise<State['history']> {
  try {
    const cfg = JSON.parse(await readFile(paths.blob(s.id), 'utf8')) as OciImageConfig;
    if (Array.isArray(cfg.history)) return cfg.history;
  } catch {
    /* no readable history: start a fresh one */
  }
  return s.layers.map(() => ({ created_by: 'base layer' }));
}
