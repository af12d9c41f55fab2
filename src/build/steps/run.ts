import { registerImage } from '../../image/index.js';
import { VesselfileError, type Instruction } from '../vesselfile.js';
import { layerFromUpper } from '../layers.js';
import { runInContainer } from '../run-step.js';
import { ociConfig, type BuildSession, type Where } from '../session.js';

/** RUN: the state so far as an untagged image, the command in a real container, its upper dir a layer. */
export async function runStep(b: BuildSession, step: Instruction & { kind: 'RUN' }, where: Where): Promise<void> {
  if (b.state.layers.length === 0) throw new VesselfileError(where.file, where.line, 'RUN needs a base image with a shell (FROM scratch has none)');
  const argv = step.argv;
  const env: Array<[string, string]> = [...b.args].filter(([k]) => b.declared.has(k));
  await b.cachedLayer([`RUN ${JSON.stringify(argv)} ${JSON.stringify(env)}`], `RUN ${step.text}`, async () => {
    // The runtime runs images from the store: the state so far becomes an untagged image.
    const parent = await registerImage({ config: ociConfig(b.state, new Date().toISOString()), layerBlobs: b.state.layerBlobs, layerSizes: b.state.layerSizes }, undefined);
    return runInContainer(
      { imageId: parent.id, argv, env, network: b.opts.network ?? 'none', ...(b.state.config.workdir ? { workdir: b.state.config.workdir } : {}), ...(b.state.config.user ? { user: b.state.config.user } : {}) },
      async (status, upper) => {
        if (status.code !== 0) throw new VesselfileError(where.file, where.line, `RUN ${step.text}: ${status.reason}`);
        return layerFromUpper(upper, b.staging, `${where.file}:${where.line}`);
      },
    );
  });
}
