import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { VesselError, containerLayout } from '../../util/index.js';
import type { ContainerConfig } from '../types.js';

/**
 * Every host name a FreeBSD container owns is derived from its container name alone, so a
 * later start or `vessel gc` can find the leftovers of a SIGKILLed run without any state.
 */

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

export function rdrAnchor(name: string): string {
  return `${RDR_ANCHOR_PARENT}/${name}`;
}

export function natAnchor(network: string): string {
  return `${NAT_ANCHOR_PARENT}/${network}`;
}

/**
 * The jail's name. jail(8): a name "may not contain a '.'" — dots separate hierarchical jails —
 * so a container name with a dot is refused here rather than silently changed (two names could
 * collide). A child of `web` is the jail `web.child`.
 */
export function jailName(cfg: Pick<ContainerConfig, 'name' | 'parent'>): string {
  if (cfg.name.includes('.')) {
    throw new VesselError('E_SPEC', `container ${JSON.stringify(cfg.name)}: a FreeBSD jail name cannot contain "."`, {
      hint: 'jail(8) uses "." to separate a parent jail from its child; rename the container (e.g. "_" or "-" instead of ".")',
    });
  }
  if (cfg.parent === undefined) return cfg.name;
  if (!/^[A-Za-z0-9][A-Za-z0-9_-]*(\.[A-Za-z0-9][A-Za-z0-9_-]*)*$/.test(cfg.parent)) {
    throw new VesselError('E_SPEC', `container ${JSON.stringify(cfg.name)}: parent ${JSON.stringify(cfg.parent)} is not a jail name`, {
      hint: 'name the parent container (or its full jail path a.b for a grandchild)',
    });
  }
  return `${cfg.parent}.${cfg.name}`;
}

/** Files vessel renders for a FreeBSD container, in its own directory. */
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
