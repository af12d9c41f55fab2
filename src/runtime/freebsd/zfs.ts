import { run } from '../../util/index.js';
import type { Resource } from '../types.js';
import type { Step } from './steps.js';

/**
 * ZFS root: the image's snapshot cloned per container (zfs(8): `zfs clone [-p] [-o
 * property=value]… snapshot filesystem`), mounted where the jail's path points, destroyed with
 * the container.
 */
export function cloneStep(snapshot: string, dataset: string, mountpoint: string): Step {
  // -p creates POOL/vessel/containers on first use.
  return { argv: ['zfs', 'clone', '-p', '-o', `mountpoint=${mountpoint}`, snapshot, dataset] };
}

export async function datasetExists(dataset: string): Promise<boolean> {
  return (await run(['zfs', 'list', '-H', '-o', 'name', dataset], { allowFailure: true })).exitCode === 0;
}

export async function destroyDataset(dataset: string): Promise<void> {
  // -f unmounts even when busy (a crashed run's processes are gone, their cwd may not be);
  // -r takes snapshots of the container's dataset with it.
  await run(['zfs', 'destroy', '-f', '-r', dataset]);
}

/** Every dataset named POOL/…/vessel/containers/NAME, or a run's NAME.RUNID (names.ts runDataset), on any pool. */
export async function containerDatasets(name: string): Promise<string[]> {
  const r = await run(['zfs', 'list', '-H', '-o', 'name', '-t', 'filesystem'], { allowFailure: true });
  if (r.exitCode !== 0) return [];
  const mine = (d: string): boolean => {
    const under = '/vessel/containers/';
    const own = d.slice(d.lastIndexOf(under) + under.length);
    return d.includes(under) && (own === name || (own.startsWith(`${name}.`) && /^[0-9a-f]{8}$/.test(own.slice(name.length + 1))));
  };
  return r.stdout.split('\n').map((l) => l.trim()).filter(mine);
}

export async function datasetLeftovers(name: string): Promise<Resource[]> {
  return (await containerDatasets(name)).map((id): Resource => ({ kind: 'dataset', id }));
}

export async function removeDataset(dataset: string): Promise<void> {
  if (await datasetExists(dataset)) await destroyDataset(dataset);
}
