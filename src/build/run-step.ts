import { randomBytes } from 'node:crypto';
import { config, containerPaths } from '../util/index.js';
import { defaultSpec } from '../spec/index.js';
import type { ExitStatus } from '../runtime/index.js';

/**
 * Run one RUN step in a real container through the supervisor (the same path as `vessel run`),
 * with a persistent upper directory: what the command changed is the step's layer.
 * The container is removed afterwards; `fn` reads the upper directory before that happens.
 */
export interface RunStep {
  imageId: string;
  argv: string[];
  env: Array<[string, string]>;
  workdir?: string;
  user?: string;
  network: 'none' | 'host';
}

export async function runInContainer<T>(step: RunStep, fn: (status: ExitStatus, upper: string) => Promise<T>): Promise<T> {
  const { Supervisor } = await import('../supervise/index.js');
  const { removeContainer } = await import('../supervise/index.js');
  const name = `vessel-build-${randomBytes(5).toString('hex')}`;
  const spec = defaultSpec(name, step.imageId, 'flags');
  spec.command = step.argv;
  // The step's argv is final: the image's ENTRYPOINT does not wrap RUN commands.
  spec.entrypoint = [];
  spec.env = step.env;
  spec.wait = 'main';
  spec.network = { ...spec.network, mode: step.network };
  if (step.workdir) spec.workdir = step.workdir;
  if (step.user) spec.user = step.user;
  const sup = new Supervisor(spec, { mode: 'foreground', autoRemove: false, output: { kind: 'inherit' } });
  try {
    await sup.start();
    const status = await sup.wait();
    return await fn(status, containerPaths(config(), name).upper);
  } finally {
    await removeContainer(name, { force: true }).catch(() => undefined);
  }
}
