import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { VesselError } from '../util/index.js';
import { dropStaging, makeStaging, readIndex, withStoreLock, findEquivalent, registerImage, setTag, toImageRecord, hostArchitecture, hostOs, parseImageRef } from '../image/index.js';
import type { ImageRecord } from '../image/index.js';
import { parseVesselfile, VesselfileError, type Instruction } from './vesselfile.js';
import { BuildSession, ociConfig, type Where } from './session.js';
import * as config from './steps/config.js';
import { copy } from './steps/copy.js';
import { runStep } from './steps/run.js';

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

/** One function per instruction kind (build/steps/): config-only steps, COPY/ADD, RUN. */
async function execute(b: BuildSession, step: Instruction, where: Where): Promise<void> {
  switch (step.kind) {
    case 'ARG': return config.arg(b, step);
    case 'FROM': return config.from(b, step);
    case 'ENV': return config.env(b, step);
    case 'LABEL': return config.label(b, step);
    case 'USER': return config.user(b, step);
    case 'CMD': return config.cmd(b, step);
    case 'ENTRYPOINT': return config.entrypoint(b, step);
    case 'EXPOSE': return config.expose(b, step);
    case 'VOLUME': return config.volume(b, step);
    case 'HEALTHCHECK': return config.healthcheck(b, step);
    case 'WORKDIR': return config.workdir(b, step, where);
    case 'COPY': case 'ADD': return copy(b, step, where);
    case 'RUN': return runStep(b, step, where);
  }
}

async function readVesselfile(file: string, context: string): Promise<string> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch {
    throw new VesselError('E_NOT_FOUND', `${file}: no such file`, { hint: 'vessel build -f FILE, or put a Vesselfile in the context directory' });
  }
  if (!existsSync(context)) throw new VesselError('E_NOT_FOUND', `${context}: build context does not exist`);
  return text;
}

/** The image the steps made, registered and tagged — or, when nothing changed, the same one again. */
async function finish(b: BuildSession, ref: ReturnType<typeof parseImageRef>): Promise<ImageRecord> {
  const finalConfig = ociConfig(b.state, new Date().toISOString());
  // A build that changed nothing gives back the same image (as docker's fully cached build does).
  const same = await findEquivalent(b.state.layers, finalConfig);
  const rec = same
    ? await withStoreLock(async () => {
        setTag(await readIndex(), same, `${ref.name}:${ref.tag}`);
        return same;
      })
    : await registerImage({ config: finalConfig, layerBlobs: b.state.layerBlobs, layerSizes: b.state.layerSizes }, ref);
  b.say(`Successfully built ${rec.id.slice(7, 19)} as ${ref.name}:${ref.tag}`);
  return toImageRecord(rec, ref);
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
  const steps = parseVesselfile(await readVesselfile(file, opts.context), fileName);
  const staging = await makeStaging('build');
  const b = new BuildSession(opts, staging, { layers: [], layerBlobs: [], layerSizes: [], config: {}, os: hostOs(), architecture: hostArchitecture(), history: [] }, opts.log ?? (() => undefined));
  try {
    for (const [i, step] of steps.entries()) {
      b.say(`Step ${i + 1}/${steps.length} : ${describe(step)}`);
      try {
        await execute(b, step, { file: fileName, line: step.line });
      } catch (e) {
        if (e instanceof VesselError && e.message.startsWith(`${fileName}:`)) throw e;
        const msg = e instanceof Error ? e.message : String(e);
        throw new VesselfileError(fileName, step.line, `${step.kind}: ${msg}`, e instanceof VesselError ? e.hint : undefined);
      }
    }
    return await finish(b, ref);
  } finally {
    await dropStaging(staging);
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
    case 'HEALTHCHECK': return config.describeHealthcheck(step.check);
  }
}
