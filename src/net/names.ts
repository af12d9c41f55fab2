import { createHash } from 'node:crypto';
import { VesselError } from '../util/index.js';

/**
 * Host-wide names of what vessel creates for networks: bridges, veth ends, the nftables table.
 * Linux limits interface names to 15 characters (IFNAMSIZ 16 with the NUL), so names are short
 * hashes, and every one contains "vsl" so an operator (or `vessel gc`) can tell them apart.
 *
 * The hash covers the state directory (`scope`, config().networks) as well as the name: two vessel
 * installations on one host — in practice, test suites each with their own VESSEL_ROOT — never
 * pick the same bridge or veth, and each owns its own nft table.
 */
export const DEFAULT_NETWORKS_DIR = '/var/lib/vessel/networks';

/** Names `none`, `host` and `bridge` are network modes, not networks. */
const RESERVED = new Set(['none', 'host', 'bridge', 'default']);
const NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;

export function checkNetworkName(name: string): void {
  if (!NAME.test(name)) {
    throw new VesselError('E_USAGE', `network name ${JSON.stringify(name)}: use letters, digits, '_', '.', '-' (first a letter or digit, at most 64)`);
  }
  if (RESERVED.has(name)) {
    throw new VesselError('E_USAGE', `network name ${name}: reserved (it is a network mode)`, { hint: 'pick another name' });
  }
}

function hash(scope: string, kind: string, name: string, len: number): string {
  return createHash('sha256').update(`${scope}\0${kind}\0${name}`).digest('hex').slice(0, len);
}

/** `vsl-` + 8 hex digits: 12 characters. */
export function bridgeName(scope: string, network: string): string {
  return `vsl-${hash(scope, 'bridge', network, 8)}`;
}

/** `vsl` + 10 hex + `h` (host end) / `c` (container end): 14 characters. */
export function vethNames(scope: string, container: string): { host: string; container: string } {
  const h = hash(scope, 'veth', container, 10);
  return { host: `vsl${h}h`, container: `vsl${h}c` };
}

/** `vessel` for the system installation; `vessel_<hash>` for any other state directory. */
export function nftTableName(scope: string): string {
  return scope === DEFAULT_NETWORKS_DIR ? 'vessel' : `vessel_${hash(scope, 'table', '', 8)}`;
}

/** The comment carried by every nft rule of a container, the handle `vessel gc` finds it by. */
export function ruleComment(container: string): string {
  return `vessel:${container}`;
}

/** The comment carried by a network's own rules (masquerade). */
export function networkRuleComment(network: string): string {
  return `vessel-net:${network}`;
}
