import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { VesselError, containerLayout } from '../../util/index.js';
import type { ContainerConfig } from '../types.js';

/**
 * Every host name a FreeBSD container owns is derived from its container name alone, so a
 * later start or `vessel gc` can find the leftovers of a SIGKILLed run without any state. A run
 * started beside the running one (a zero-downtime reload's next run, ContainerConfig.beside) adds
 * its run id where two runs cannot share a name: `NAME@RUNID` for the jail (and so its rctl
 * subject), its epair (net/ leases it under that key) and its rdr anchor; `…/containers/NAME.RUNID`
 * for its ZFS clone; its files and root in its own directory (util besideDir, `NAME/next-RUNID/`).
 * Neither `@` nor `.` can be in a FreeBSD container name (spec/name.ts NAME_RE; jailName() below
 * refuses `.`), so a run's name never collides with another container's.
 */

/**
 * The run id a run beside the running one carries in its names. jail(8) / kern_jail.c
 * kern_jail_set: a name is any string below MAXHOSTNAMELEN (256) with its parents' names, "cannot
 * be numeric (unless it is the jid)" and splits at `.` into hierarchy levels; jail.conf(5)'s lexer
 * (usr.sbin/jail/jaillex.l) reads `@` inside an unquoted name. ZFS uses `@` for snapshots
 * (zfsconcepts(7)), so the clone takes `.RUNID`, which a dataset name may have.
 */
export function runTag(cfg: Partial<Pick<ContainerConfig, 'beside' | 'runId'>>): string | undefined {
  if (cfg.beside !== true) return undefined;
  if (cfg.runId === undefined || !/^[0-9a-f]{8}$/.test(cfg.runId)) throw new VesselError('E_RUNTIME', `run id ${JSON.stringify(cfg.runId)}: a run beside another needs 8 hex digits to name its jail`);
  return cfg.runId;
}

/** `NAME` or, for a run beside the running one, `NAME@RUNID`: its epair's and rdr anchor's owner (net/'s lease key). */
export function instanceName(cfg: Pick<ContainerConfig, 'name'> & Partial<Pick<ContainerConfig, 'beside' | 'runId'>>): string {
  const tag = runTag(cfg);
  return tag === undefined ? cfg.name : `${cfg.name}@${tag}`;
}

/** `NAME@RUNID` → `{ name, tag }`; a plain name has no tag. */
export function splitInstance(instance: string): { name: string; tag?: string } {
  const m = /^(.*)@([0-9a-f]{8})$/.exec(instance);
  return m ? { name: m[1]!, tag: m[2]! } : { name: instance };
}

/** The directory of the run's files and root: the container's, or the run's own beside it. */
export function runDir(cfg: Pick<ContainerConfig, 'dir' | 'root' | 'beside'>): string {
  return cfg.beside === true && cfg.root.layerDir !== undefined ? cfg.root.layerDir : cfg.dir;
}

/** The ZFS clone the run's root is: the container's dataset, or `DATASET.RUNID` beside it. */
export function runDataset(cfg: Pick<ContainerConfig, 'root'> & Partial<Pick<ContainerConfig, 'beside' | 'runId'>>): string | undefined {
  const ds = cfg.root.zfsDataset;
  const tag = runTag(cfg);
  return ds === undefined || tag === undefined ? ds : `${ds}.${tag}`;
}

/** Short stable digest of a container name: interface names have 15 characters only (ifconfig(8), IFNAMSIZ 16). */
export function nameHash(name: string): string {
  return createHash('sha256').update(name).digest('hex').slice(0, 8);
}

/** The two ends of the container's epair(4), renamed at once after `ifconfig epair create`. */
export function epairNames(name: string): { host: string; jail: string } {
  const h = nameHash(name);
  return { host: `vsl${h}a`, jail: `vsl${h}b` };
}

/** A bridge per named network (if_bridge(4)); ≤ 15 characters like every interface name. */
export function bridgeName(network: string): string {
  return `vbr${nameHash(network)}`;
}

/**
 * A per-container devfs ruleset number (devfs(8) rulesets are 16-bit). Numbers below 1000 are
 * left to the system and the admin (/etc/defaults/devfs.rules uses 1–5; iocage and AppJail also
 * start at 1000).
 */
export function devfsRulesetNumber(name: string): number {
  return 1000 + (parseInt(nameHash(name), 16) % 64000);
}

export const RDR_ANCHOR_PARENT = 'vessel-rdr';
export const NAT_ANCHOR_PARENT = 'vessel-nat';

/**
 * pf's own limits on names: sys/netpfil/pf/pf_ruleset.c pf_find_or_create_kruleset refuses an
 * anchor path component of PF_ANCHOR_NAME_SIZE (64) characters or more, and pfctl's parse.y a
 * label of PF_RULE_LABEL_SIZE (64) or more ("rule label too long (max 63 chars)"). A container
 * name has up to 63 characters, a run's `NAME@RUNID` 72.
 */
const PF_NAME_MAX = 63;

/** TEXT, or when longer than MAX its start and a digest of the whole (`~hash`): distinct texts stay distinct. */
function fitted(text: string, max: number): string {
  return text.length <= max ? text : `${text.slice(0, max - 9)}~${nameHash(text)}`;
}

/** The rdr anchor's own name below vessel-rdr: its owner (a container, or a run's `NAME@RUNID`), within pf's limit. */
export function rdrAnchorName(owner: string): string {
  return fitted(owner, PF_NAME_MAX);
}

export function rdrAnchor(owner: string): string {
  return `${RDR_ANCHOR_PARENT}/${rdrAnchorName(owner)}`;
}

/** The label of the owner's rdr rules (which anchor a state came from), within pf's limit. */
export function rdrLabel(owner: string): string {
  return fitted(rdrAnchor(owner), PF_NAME_MAX);
}

export function natAnchor(network: string): string {
  return `${NAT_ANCHOR_PARENT}/${network}`;
}

/**
 * The jail's name. jail(8): a name "may not contain a '.'" — dots separate hierarchical jails —
 * so a container name with a dot is refused here rather than silently changed (two names could
 * collide). A child of `web` is the jail `web.child`.
 */
export function jailName(cfg: Pick<ContainerConfig, 'name'> & Partial<Pick<ContainerConfig, 'parent' | 'beside' | 'runId'>>): string {
  if (cfg.name.includes('.')) {
    throw new VesselError('E_SPEC', `container ${JSON.stringify(cfg.name)}: a FreeBSD jail name cannot contain "."`, {
      hint: 'jail(8) uses "." to separate a parent jail from its child; rename the container (e.g. "_" or "-" instead of ".")',
    });
  }
  const own = instanceName(cfg);
  if (cfg.parent === undefined) return own;
  if (!/^[A-Za-z0-9][A-Za-z0-9_-]*(\.[A-Za-z0-9][A-Za-z0-9_-]*)*$/.test(cfg.parent)) {
    throw new VesselError('E_SPEC', `container ${JSON.stringify(cfg.name)}: parent ${JSON.stringify(cfg.parent)} is not a jail name`, {
      hint: 'name the parent container (or its full jail path a.b for a grandchild)',
    });
  }
  const full = `${cfg.parent}.${own}`;
  // kern_jail.c kern_jail_set: `if (pnamelen + namelen + 1 > sizeof(pr->pr_name))` → ENAMETOOLONG (MAXHOSTNAMELEN, 256)
  if (full.length >= JAIL_NAME_SIZE) {
    throw new VesselError('E_SPEC', `container ${JSON.stringify(cfg.name)}: the jail name ${full.slice(0, 40)}… has ${full.length} characters; jail(2) takes ${JAIL_NAME_SIZE - 1} with its parents'`, {
      hint: 'use shorter container names for the parents and the child',
    });
  }
  return full;
}

/** sys/jail.h: a prison's name, its parents' included, fits MAXHOSTNAMELEN with the NUL. */
const JAIL_NAME_SIZE = 256;

/** Is JAIL (a name jls(8) lists) one of container NAME's: `NAME`, `NAME@RUNID`, or either below a parent. */
export function isJailOf(jail: string, name: string): boolean {
  const own = jail.slice(jail.lastIndexOf('.') + 1);
  return splitInstance(own).name === name;
}

/** The files of the run CFG describes (runDir). */
export function runFiles(cfg: Pick<ContainerConfig, 'dir' | 'root' | 'beside'>) {
  return containerFiles(runDir(cfg));
}

/** Files vessel renders for a FreeBSD container, in its own directory (or a run's beside it). */
export function containerFiles(dir: string) {
  return {
    conf: join(dir, 'jail.conf'),
    fstab: join(dir, 'fstab'),
    devfsRules: join(dir, 'devfs.rules'),
    portacl: join(dir, 'portacl.rules'),
    rootfs: containerLayout(dir).rootfs,
    upper: containerLayout(dir).upper,
  };
}
