import { existsSync, rmSync } from 'node:fs';
import { config, containerPaths, errorMessage, VesselError } from '../../util/index.js';
import type { Resource, ResourceKind } from '../types.js';
import { deleteRuleset, rulesetLeftovers } from './devfs.js';
import { jailLeftovers, removeJailIfExists } from './jail8.js';
import { portaclLeftovers, removePortacl } from './mac.js';
import { mountLeftovers, unmounter } from './mount.js';
import { containerFiles } from './names.js';
import { rdrLeftovers, removeAnchor } from './pf.js';
import { rctlLeftovers, removeRules } from './rctl.js';
import { epairLeftovers, removeEpair } from './vnet.js';
import { datasetLeftovers, removeDataset } from './zfs.js';

/**
 * Leftovers: everything a container owns is named after it, so a crashed or SIGKILLed run is
 * found on the host itself — the Emperor cannot kill a jail, only the vassal can clean up.
 *
 * One owner per host object: the module that creates a kind of object is the one that finds
 * what a crash left of it and removes it (vnet.ts the epair, pf.ts the anchors, devfs.ts the
 * ruleset, jail8.ts the jail, mount.ts the mounts, rctl.ts, mac.ts, zfs.ts); this file only asks
 * them, in creation order, and hands each resource back to its owner, newest first.
 */

function containerDir(name: string): string {
  return containerPaths(config(), name).dir;
}

/** The files start() writes first (render.ts); they are also the record of the ruleset and portacl rules. */
function fileLeftovers(dir: string): Resource[] {
  const f = containerFiles(dir);
  const files = [f.conf, f.fstab, f.devfsRules, f.portacl].filter((p) => existsSync(p));
  return files.length > 0 ? [{ kind: 'jail-conf', id: f.conf, detail: { files: files.join(',') } }] : [];
}

export async function findLeftovers(name: string): Promise<Resource[]> {
  const dir = containerDir(name);
  const f = containerFiles(dir);
  return [
    ...fileLeftovers(dir),
    ...(await datasetLeftovers(name)),
    ...(await mountLeftovers(dir)),
    ...(await rulesetLeftovers(f.devfsRules)),
    ...(await epairLeftovers(name)),
    ...(await jailLeftovers(name, dir, f.rootfs, f.conf)),
    ...(await rctlLeftovers(name)),
    ...(await portaclLeftovers(f.portacl)),
    ...(await rdrLeftovers(name)),
  ];
}

type Remover = (r: Resource) => Promise<void>;

function removers(): Partial<Record<ResourceKind, Remover>> {
  const unmount = unmounter();
  return {
    'pf-anchor': (r) => removeAnchor(r.id, r.detail?.address, r.detail?.address6),
    portacl: (r) => removePortacl(r.id),
    rctl: (r) => removeRules(r.id.replace(/^jail:/, '')),
    jail: (r) => removeJailIfExists(r.id, r.detail?.conf),
    interface: (r) => removeEpair(r.id),
    'devfs-ruleset': (r) => deleteRuleset(Number(r.id)),
    mount: (r) => unmount(r.id),
    dataset: (r) => removeDataset(r.id),
    'jail-conf': async (r) => {
      for (const p of (r.detail?.files ?? r.id).split(',')) rmSync(p, { force: true });
    },
  };
}

/** Remove the listed resources, newest first; absent ones are skipped, failures reported together. */
export async function cleanup(resources: Resource[]): Promise<void> {
  const failures: string[] = [];
  const remove = removers();
  for (const r of [...resources].reverse()) {
    try {
      await remove[r.kind]?.(r);
    } catch (e) {
      failures.push(`${r.kind} ${r.id}: ${errorMessage(e)}`);
    }
  }
  if (failures.length > 0) {
    throw new VesselError('E_RUNTIME', `cleanup left ${failures.length} resource(s): ${failures.join('; ')}`, {
      hint: 'run `vessel gc` again once whatever holds them is gone',
    });
  }
}
