import { randomBytes } from 'node:crypto';
import { config, containerPaths } from '../util/index.js';
import { defaultSpec, type ContainerSpec } from '../spec/index.js';
import type { ExitStatus } from '../runtime/index.js';

/**
 * Run one RUN step in a real container through the supervisor (the same path as `vessel run`);
 * what the command changed becomes the step's layer, read one of two ways (runInContainer,
 * runInLiveRoot). The container is removed afterwards.
 */
export interface RunStep {
  imageId: string;
  argv: string[];
  env: Array<[string, string]>;
  workdir?: string;
  user?: string;
  network: 'none' | 'host';
}

function stepSpec(step: RunStep): ContainerSpec {
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
  return spec;
}

/**
 * Linux: the container's writable layer is a persistent overlay upper directory, which is what
 * the command changed; `fn` reads it once the container has ended.
 */
export async function runInContainer<T>(step: RunStep, fn: (status: ExitStatus, upper: string) => Promise<T>): Promise<T> {
  const { Supervisor, removeContainer } = await import('../supervise/index.js');
  const spec = stepSpec(step);
  const sup = new Supervisor(spec, { mode: 'foreground', autoRemove: false, output: { kind: 'inherit' } });
  try {
    await sup.start();
    const status = await sup.wait();
    return await fn(status, containerPaths(config(), spec.name).upper);
  } finally {
    await removeContainer(spec.name, { force: true }).catch(() => undefined);
  }
}

/**
 * FreeBSD: the root is a unionfs stack or a ZFS clone, neither of which shows its deletions as
 * files; the step sees the root itself. `before` gets it once it exists and before the command
 * runs; `after` gets it when the command has ended, before the container is released (the root
 * still mounted). An error of either ends the step with that error, the container released
 * and removed all the same.
 */
export async function runInLiveRoot<T>(
  step: RunStep,
  before: (rootfs: string) => Promise<void>,
  after: (status: ExitStatus, rootfs: string) => Promise<T>,
): Promise<T> {
  const { Supervisor, removeContainer } = await import('../supervise/index.js');
  const spec = stepSpec(step);
  const rootfs = containerPaths(config(), spec.name).rootfs;
  let outcome: { ok: true; value: T } | { ok: false; error: unknown } | undefined;
  const sup = new Supervisor(spec, {
    mode: 'foreground',
    autoRemove: false,
    output: { kind: 'inherit' },
    beforeExec: () => before(rootfs),
    beforeRelease: async (status) => {
      outcome = await after(status, rootfs).then((value) => ({ ok: true as const, value }), (error: unknown) => ({ ok: false as const, error }));
    },
  });
  try {
    await sup.start();
    await sup.wait();
    if (outcome === undefined) throw new Error(`RUN step container ${spec.name}: ended without its root being read`);
    if (!outcome.ok) throw outcome.error;
    return outcome.value;
  } finally {
    await removeContainer(spec.name, { force: true }).catch(() => undefined);
  }
}
