import { posix } from 'node:path';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { findImage, type ImageHealthcheck } from '../../image/index.js';
import { mergeEnv } from '../../spec/index.js';
import type { Instruction } from '../vesselfile.js';
import { layerFromTree } from '../layers.js';
import { baseHistory, fromStored, kindInImage, type BuildSession, type Where } from '../session.js';

type Step<K extends Instruction['kind']> = Instruction & { kind: K };

/** ARG: declared for RUN's environment; a --build-arg wins over the default. */
export function arg(b: BuildSession, step: Step<'ARG'>): void {
  b.declared.add(step.name);
  const v = b.opts.buildArgs?.[step.name] ?? (step.value === undefined ? undefined : b.sub(step.value));
  if (v !== undefined) b.args.set(step.name, v);
}

export async function from(b: BuildSession, step: Step<'FROM'>): Promise<void> {
  const image = b.sub(step.image);
  if (image === 'scratch') return;
  const { stored } = await findImage(image);
  b.state = fromStored(stored, await baseHistory(stored));
}

export function env(b: BuildSession, step: Step<'ENV'>): void {
  const env = mergeEnv(b.state.config.env, step.pairs.map(([k, v]): [string, string] => [k, b.sub(v)]));
  b.configOnly(`ENV ${step.pairs.map(([k, v]) => `${k}=${v}`).join(' ')}`, { env });
}

export function label(b: BuildSession, step: Step<'LABEL'>): void {
  const labels = { ...(b.state.config.labels ?? {}) };
  for (const [k, v] of step.pairs) labels[b.sub(k)] = b.sub(v);
  b.configOnly(`LABEL ${step.pairs.map(([k, v]) => `${k}=${v}`).join(' ')}`, { labels });
}

export function user(b: BuildSession, step: Step<'USER'>): void {
  b.configOnly(`USER ${step.user}`, { user: b.sub(step.user) });
}

export function cmd(b: BuildSession, step: { argv: string[] }): void {
  b.configOnly(`CMD ${JSON.stringify(step.argv)}`, { cmd: step.argv });
}

export function entrypoint(b: BuildSession, step: { argv: string[] }): void {
  // docker: setting ENTRYPOINT clears an inherited CMD.
  b.configOnly(`ENTRYPOINT ${JSON.stringify(step.argv)}`, { entrypoint: step.argv, ...(b.state.config.cmd ? { cmd: [] } : {}) });
}

export function expose(b: BuildSession, step: Step<'EXPOSE'>): void {
  const ports = new Set(b.state.config.exposedPorts ?? []);
  for (const p of step.ports) {
    const v = b.sub(p);
    ports.add(v.includes('/') ? v.toLowerCase() : `${v}/tcp`);
  }
  b.configOnly(`EXPOSE ${step.ports.join(' ')}`, { exposedPorts: [...ports] });
}

export function volume(b: BuildSession, step: Step<'VOLUME'>): void {
  const vols = new Set(b.state.config.volumes ?? []);
  for (const v of step.paths) vols.add(b.sub(v));
  b.configOnly(`VOLUME ${JSON.stringify(step.paths)}`, { volumes: [...vols] });
}

/** The history line of a HEALTHCHECK: the check as the image records it, durations in ns. */
export function describeHealthcheck(h: ImageHealthcheck): string {
  const opts = (['interval', 'timeout', 'startPeriod', 'retries'] as const).filter((k) => h[k] !== undefined).map((k) => `${k}=${h[k]}`);
  return `HEALTHCHECK ${[...opts, JSON.stringify(h.test)].join(' ')}`;
}

/** HEALTHCHECK: the image's default check (NONE turns an inherited one off). */
export function healthcheck(b: BuildSession, step: Step<'HEALTHCHECK'>): void {
  b.configOnly(describeHealthcheck(step.check), { healthcheck: step.check });
}

export async function workdir(b: BuildSession, step: Step<'WORKDIR'>, where: Where): Promise<void> {
  const dir = posix.resolve(b.state.config.workdir ?? '/', b.sub(step.path));
  b.configOnly(`WORKDIR ${dir}`, { workdir: dir });
  if (dir !== '/' && kindInImage(b.layerDirs(), dir) === undefined) {
    // docker creates a missing WORKDIR; here it is a small layer of its own.
    b.state.history.pop();
    await b.cachedLayer([`WORKDIR ${dir}`], `WORKDIR ${dir}`, async () => {
      const tree = await b.newTree();
      await mkdir(join(tree, dir), { recursive: true, mode: 0o755 });
      return layerFromTree(tree, b.staging, `${where.file}:${where.line}`);
    });
  }
}
