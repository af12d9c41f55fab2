import { existsSync, readdirSync, rmSync } from 'node:fs';
import { dirname } from 'node:path';
import { BESIDE_DIR_RE, besideDir, config, containerPaths, errorMessage, VesselError } from '../../util/index.js';
import type { Resource, ResourceKind } from '../types.js';
import { removeRuleset, rulesetLeftovers } from './devfs.js';
import { jailLeftovers, removeJailIfExists } from './jail8.js';
import { portaclLeftovers, removePortacl } from './mac.js';
import { mountLeftovers, mountedPaths, unmounter } from './mount.js';
import { containerFiles, splitInstance } from './names.js';
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
 *
 * Two runs of one container may exist at once (a zero-downtime reload's next run beside the
 * running one, names.ts): the container's own names and each run's `NAME@RUNID` ones, whose files
 * and root are in `NAME/next-RUNID/` (util besideDir), are all found and all removed.
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

/** The run ids of runs beside the running one whose directories (`next-RUNID`) exist. */
function besideDirTags(dir: string): string[] {
  let entries: string[] = [];
  try {
    entries = readdirSync(dir);
  } catch {
    return [];
  }
  return entries.map((e) => BESIDE_DIR_RE.exec(e)?.[1]).filter((t): t is string => t !== undefined).sort();
}

interface Run {
  /** Its epair's and rdr anchor's owner (names.ts instanceName). */
  instance: string;
  dir: string;
}

export async function findLeftovers(name: string): Promise<Resource[]> {
  const dir = containerDir(name);
  const runs: Run[] = besideDirTags(dir).map((tag) => ({ instance: `${name}@${tag}`, dir: besideDir(dir, tag) }));
  const own: Run[] = [{ instance: name, dir }, ...runs];
  // one run after another: a transcript (and a reader of it) sees them in order
  const each = async (find: (r: Run) => Promise<Resource[]>, of: Run[] = own): Promise<Resource[]> => {
    const out: Resource[] = [];
    for (const r of of) out.push(...(await find(r)));
    return out;
  };
  // a jail's run directory holds its jail.conf: DIR/rootfs → DIR, DIR/next-RUNID/rootfs → DIR/next-RUNID
  const jails = () => jailLeftovers(name, dir, (path) => containerFiles(dirname(path)).conf);
  const before = [
    // created first (its files are written into it), removed last
    ...runs.map((r): Resource => ({ kind: 'dir', id: r.dir })),
    ...own.flatMap((r) => fileLeftovers(r.dir)),
    ...(await datasetLeftovers(name)),
    ...(await mountLeftovers(dir)),
    ...(await each((r) => rulesetLeftovers(containerFiles(r.dir).devfsRules))),
    ...(await each((r) => epairLeftovers(r.instance))),
  ];
  const found = await jails();
  // a run's jail whose directory is gone: its epair and anchor by its run id
  const orphans: Run[] = found
    .map((j) => splitInstance(j.id.slice(j.id.lastIndexOf('.') + 1)).tag)
    .filter((t): t is string => t !== undefined && !runs.some((r) => r.instance === `${name}@${t}`))
    .map((t) => ({ instance: `${name}@${t}`, dir: besideDir(dir, t) }));
  return [
    ...before,
    ...found,
    ...(await each((r) => epairLeftovers(r.instance), orphans)),
    ...(await rctlLeftovers(name)),
    ...(await each((r) => portaclLeftovers(containerFiles(r.dir).portacl))),
    ...(await each((r) => rdrLeftovers(r.instance), [...own, ...orphans])),
  ];
}

/**
 * A run's own directory (a run beside the running one), removed with what is left in it — but
 * never while anything is still mounted below it: a volume's nullfs mount would take the removal
 * into the host directory it shows.
 */
export async function removeRunDir(path: string): Promise<void> {
  const mounted = (await mountedPaths()).filter((p) => p === path || p.startsWith(path + '/'));
  if (mounted.length > 0) {
    throw new VesselError('E_RUNTIME', `${path}: still mounted below it: ${mounted.join(', ')}; not removed`, { hint: 'vessel gc removes it once they are unmounted' });
  }
  rmSync(path, { recursive: true, force: true });
}

type Remover = (r: Resource) => Promise<void>;

function removers(): Partial<Record<ResourceKind, Remover>> {
  const mounts = unmounter();
  return {
    'pf-anchor': (r) => removeAnchor(r.id, r.detail?.address, r.detail?.address6),
    portacl: (r) => removePortacl(r.id, r.detail?.file),
    rctl: (r) => removeRules(r.id.replace(/^jail:/, '')),
    jail: async (r) => {
      await removeJailIfExists(r.id, r.detail?.conf);
      mounts.forget();
    },
    interface: (r) => removeEpair(r.id),
    'devfs-ruleset': (r) => removeRuleset(r),
    mount: (r) => mounts.unmount(r.id),
    dataset: (r) => removeDataset(r.id),
    dir: (r) => removeRunDir(r.id),
    'jail-conf': async (r) => {
      for (const p of (r.detail?.files ?? r.id).split(',')) rmSync(p, { force: true });
    },
  };
}

/**
 * Records go last whatever order a list has (a state's and a host scan's merged): the files other
 * removers read (devfs.rules, portacl.rules), then a run's directory that holds them.
 */
const LAST: Partial<Record<ResourceKind, number>> = { 'jail-conf': 1, dir: 2 };

/** Remove the listed resources, newest first; absent ones are skipped, failures reported together. */
export async function cleanup(resources: Resource[]): Promise<void> {
  const failures: string[] = [];
  const remove = removers();
  const order = [...resources].reverse().map((r, i) => ({ r, i })).sort((a, b) => (LAST[a.r.kind] ?? 0) - (LAST[b.r.kind] ?? 0) || a.i - b.i);
  for (const { r } of order) {
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
