import { hostOs } from '../../util/index.js';
import { printableName, registerImage, type StagedLayer } from '../../image/index.js';
import { VesselfileError, type Instruction } from '../vesselfile.js';
import { layerFromRootDiff, layerFromUpper } from '../layers.js';
import { diffRoots, type RootListing } from '../root-diff.js';
import { walkRoot } from '../root-walk.js';
import { runInContainer, runInLiveRoot, type RunStep } from '../run-step.js';
import { ociConfig, type BuildSession, type Where } from '../session.js';

/** jail(8) mount.devfs: the jail's devfs on the root's /dev, not the step's. */
const JAIL_MOUNTS: ReadonlySet<string> = new Set(['dev']);

/**
 * FreeBSD: the root listed before the command and after it (the root still mounted), the
 * differences a layer — deletions included, which neither unionfs nor a ZFS clone shows as files.
 */
function layerOfLiveRoot(b: BuildSession, step: RunStep, text: string, where: Where): Promise<StagedLayer> {
  let before: RootListing | undefined;
  return runInLiveRoot(
    step,
    async (rootfs) => { before = await walkRoot(rootfs, JAIL_MOUNTS); },
    async (status, rootfs) => {
      if (status.code !== 0) throw new VesselfileError(where.file, where.line, `RUN ${text}: ${status.reason}`);
      if (before === undefined) throw new VesselfileError(where.file, where.line, `RUN ${text}: the root was not listed before the command ran`);
      const diff = diffRoots(before, await walkRoot(rootfs, JAIL_MOUNTS));
      const bad = diff.refused[0];
      if (bad) throw new VesselfileError(where.file, where.line, `RUN ${text}: it left /${printableName(bad.path)}: ${bad.why}`);
      return layerFromRootDiff(rootfs, diff, b.staging, `${where.file}:${where.line}`);
    },
  );
}

/** RUN: the state so far as an untagged image, the command in a real container, what it changed a layer. */
export async function runStep(b: BuildSession, step: Instruction & { kind: 'RUN' }, where: Where): Promise<void> {
  if (b.state.layers.length === 0) throw new VesselfileError(where.file, where.line, 'RUN needs a base image with a shell (FROM scratch has none)');
  const argv = step.argv;
  const env: Array<[string, string]> = [...b.args].filter(([k]) => b.declared.has(k));
  await b.cachedLayer([`RUN ${JSON.stringify(argv)} ${JSON.stringify(env)}`], `RUN ${step.text}`, async () => {
    // The runtime runs images from the store: the state so far becomes an untagged image.
    const parent = await registerImage({ config: ociConfig(b.state, new Date().toISOString()), layerBlobs: b.state.layerBlobs, layerSizes: b.state.layerSizes }, undefined);
    const run: RunStep = { imageId: parent.id, argv, env, network: b.opts.network ?? 'none', ...(b.state.config.workdir ? { workdir: b.state.config.workdir } : {}), ...(b.state.config.user ? { user: b.state.config.user } : {}) };
    if (hostOs() === 'freebsd') return layerOfLiveRoot(b, run, step.text, where);
    return runInContainer(run, async (status, upper) => {
      if (status.code !== 0) throw new VesselfileError(where.file, where.line, `RUN ${step.text}: ${status.reason}`);
      return layerFromUpper(upper, b.staging, `${where.file}:${where.line}`);
    });
  });
}
