import { existsSync, readFileSync, rmSync } from 'node:fs';
import { config, containerPaths } from '../../util/config.js';
import { errorMessage, VesselError } from '../../util/errors.js';
import { run } from '../../util/host.js';
import type { Resource } from '../types.js';
import { deleteRuleset, recordedRuleset, rulesetExists } from './devfs.js';
import { jailExists, listJails, removeJail } from './jail8.js';
import { readRules, splitRules, withoutRules, writeRules } from './mac.js';
import { mountedPaths, unmount } from './mount.js';
import { containerFiles, epairNames, rdrAnchor } from './names.js';
import { anchorRules, rdrTarget, removeAnchor } from './pf.js';
import { removeRules } from './rctl.js';
import { destroyInterface, interfaceExists, listInterfaces } from './vnet.js';
import { containerDatasets, datasetExists, destroyDataset } from './zfs.js';

/**
 * Leftovers: everything a container owns is named after it, so a crashed or SIGKILLed run is
 * found on the host itself — the Emperor cannot kill a jail, only the vassal can clean up.
 * findLeftovers returns resources in creation order; cleanup removes any list in reverse order.
 */

function containerDir(name: string): string {
  return containerPaths(config(), name).dir;
}

/** Every rctl rule on the host (rctl(8) without options); those of jail NAME or PARENT.NAME. */
async function rctlSubjects(name: string): Promise<string[]> {
  const r = await run(['rctl'], { allowFailure: true });
  if (r.exitCode !== 0) return [];
  const subjects = new Set<string>();
  for (const line of r.stdout.split('\n')) {
    const m = /^jail:([^:]+):/.exec(line.trim());
    if (m && (m[1] === name || m[1]!.endsWith(`.${name}`))) subjects.add(`jail:${m[1]}`);
  }
  return [...subjects];
}

export async function findLeftovers(name: string): Promise<Resource[]> {
  const dir = containerDir(name);
  const f = containerFiles(dir);
  const found: Resource[] = [];

  const files = [f.conf, f.fstab, f.devfsRules, f.portacl].filter((p) => existsSync(p));
  if (files.length > 0) found.push({ kind: 'jail-conf', id: f.conf, detail: { files: files.join(',') } });

  for (const ds of await containerDatasets(name)) found.push({ kind: 'dataset', id: ds });

  // mount -p lists in mount order; cleanup's reverse order unmounts the newest first.
  const jails = (await listJails()).filter((j) => (j.name === name || j.name.endsWith(`.${name}`)) && (j.path === f.rootfs || j.path.startsWith(dir + '/')));
  for (const p of await mountedPaths()) {
    if (p === dir || p.startsWith(dir + '/')) found.push({ kind: 'mount', id: p });
  }

  // Only the number this container recorded: rulesets are global and may be another manager's.
  const ruleset = recordedRuleset(f.devfsRules);
  if (ruleset !== undefined && (await rulesetExists(ruleset))) found.push({ kind: 'devfs-ruleset', id: String(ruleset) });

  const ep = epairNames(name);
  const ifs = await listInterfaces();
  if (ifs.includes(ep.host)) found.push({ kind: 'interface', id: ep.host, detail: { peer: ep.jail, type: 'epair' } });
  else if (ifs.includes(ep.jail)) found.push({ kind: 'interface', id: ep.jail, detail: { type: 'epair' } });

  for (const j of jails) found.push({ kind: 'jail', id: j.name, detail: { conf: f.conf, ...(j.state ? { state: j.state } : {}) } });
  for (const s of await rctlSubjects(name)) found.push({ kind: 'rctl', id: s });

  if (existsSync(f.portacl)) {
    const ours = splitRules(readFileSync(f.portacl, 'utf8').replace(/\n/g, ','));
    const current = splitRules((await readRules()) ?? '');
    const present = ours.filter((r) => current.includes(r));
    if (present.length > 0) found.push({ kind: 'portacl', id: present.join(','), detail: { file: f.portacl } });
  }

  const anchor = rdrAnchor(name);
  const rules = await anchorRules(anchor);
  if (rules.trim() !== '') {
    const address = rdrTarget(rules);
    found.push({ kind: 'pf-anchor', id: anchor, ...(address !== undefined ? { detail: { address } } : {}) });
  }
  return found;
}

/** Remove the listed resources, newest first; absent ones are skipped, failures reported together. */
export async function cleanup(resources: Resource[]): Promise<void> {
  const failures: string[] = [];
  let mounted: string[] | undefined;
  for (const r of [...resources].reverse()) {
    try {
      switch (r.kind) {
        case 'pf-anchor':
          await removeAnchor(r.id, r.detail?.address);
          break;
        case 'portacl': {
          const current = await readRules();
          if (current === undefined) break;
          const next = withoutRules(current, splitRules(r.id));
          if (next !== splitRules(current).join(',')) await writeRules(next);
          break;
        }
        case 'rctl':
          await removeRules(r.id.replace(/^jail:/, ''));
          break;
        case 'jail':
          if (await jailExists(r.id)) await removeJail(r.id, r.detail?.conf);
          break;
        case 'interface':
          if (await interfaceExists(r.id)) await destroyInterface(r.id);
          break;
        case 'devfs-ruleset':
          await deleteRuleset(Number(r.id));
          break;
        case 'mount': {
          // Read once, after the jail (which unmounts its own fstab and devfs) is gone.
          mounted ??= await mountedPaths();
          const i = mounted.lastIndexOf(r.id);
          if (i >= 0) {
            await unmount(r.id);
            mounted.splice(i, 1);
          }
          break;
        }
        case 'dataset':
          if (await datasetExists(r.id)) await destroyDataset(r.id);
          break;
        case 'jail-conf':
          for (const p of (r.detail?.files ?? r.id).split(',')) rmSync(p, { force: true });
          break;
        default:
          break;
      }
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
