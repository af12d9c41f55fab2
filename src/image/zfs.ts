import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { run } from '../util/index.js';
import { applyLayer } from './flatten.js';
import type { Digest } from './types.js';

/**
 * Layers on a ZFS store (FreeBSD): one dataset per layer *chain* (the OCI ChainID: a layer's
 * content depends on the layers below it), cloned from the chain below and snapshotted, so every
 * image is a snapshot and a container a clone of it — no copy, no union filesystem.
 * planZfsLayers() renders the commands (pure, checked against a golden transcript);
 * ensureZfsLayers() runs them, applying each layer onto its fresh clone.
 */
export const LAYER_SNAPSHOT = 'layer';

/** OCI ChainIDs: ChainID(L1) = DiffID(L1); ChainID(Ln) = sha256(ChainID(Ln-1) + " " + DiffID(Ln)). */
export function chainIds(diffIds: Digest[]): Digest[] {
  const out: Digest[] = [];
  for (const d of diffIds) {
    const prev = out[out.length - 1];
    out.push(prev === undefined ? d : `sha256:${createHash('sha256').update(`${prev} ${d}`).digest('hex')}`);
  }
  return out;
}

export type ZfsStep =
  | { kind: 'zfs'; argv: string[] }
  | { kind: 'apply'; diffId: Digest; mountpoint: string };

export interface ZfsLayerPlan {
  steps: ZfsStep[];
  /** The image's snapshot: what a container clones. */
  snapshot: string;
}

/**
 * @param parent dataset holding the layer datasets, e.g. "zroot/vessel/layers"
 * @param mountRoot where they are mounted while being written
 * @param existing snapshots already present (`zfs list -H -o name -t snapshot`)
 */
export function planZfsLayers(parent: string, mountRoot: string, diffIds: Digest[], existing: ReadonlySet<string>): ZfsLayerPlan {
  const chains = chainIds(diffIds);
  const steps: ZfsStep[] = [];
  const ds = (c: Digest) => `${parent}/${c.slice(7, 7 + 32)}`;
  chains.forEach((c, i) => {
    const dataset = ds(c);
    if (existing.has(`${dataset}@${LAYER_SNAPSHOT}`)) return;
    const mountpoint = join(mountRoot, c.slice(7, 7 + 32));
    // A half-written dataset of an interrupted run is discarded, never reused.
    steps.push({ kind: 'zfs', argv: ['zfs', 'destroy', '-r', '-f', dataset] });
    steps.push(
      i === 0
        ? { kind: 'zfs', argv: ['zfs', 'create', '-p', '-o', `mountpoint=${mountpoint}`, dataset] }
        : { kind: 'zfs', argv: ['zfs', 'clone', '-o', `mountpoint=${mountpoint}`, `${ds(chains[i - 1]!)}@${LAYER_SNAPSHOT}`, dataset] },
    );
    steps.push({ kind: 'apply', diffId: diffIds[i]!, mountpoint });
    steps.push({ kind: 'zfs', argv: ['zfs', 'snapshot', `${dataset}@${LAYER_SNAPSHOT}`] });
    steps.push({ kind: 'zfs', argv: ['zfs', 'set', 'readonly=on', dataset] });
  });
  return { steps, snapshot: `${ds(chains[chains.length - 1]!)}@${LAYER_SNAPSHOT}` };
}

/** Make sure every layer chain of an image exists as a snapshot; returns the image's snapshot. */
export async function ensureZfsLayers(parent: string, mountRoot: string, diffIds: Digest[]): Promise<string> {
  const list = await run(['zfs', 'list', '-H', '-o', 'name', '-t', 'snapshot', '-r', parent], { allowFailure: true });
  const existing = new Set(list.exitCode === 0 ? list.stdout.split('\n').filter(Boolean) : []);
  const plan = planZfsLayers(parent, mountRoot, diffIds, existing);
  for (const s of plan.steps) {
    if (s.kind === 'apply') await applyLayer(s.diffId, s.mountpoint);
    else await run(s.argv, { allowFailure: s.argv[1] === 'destroy' });
  }
  return plan.snapshot;
}
