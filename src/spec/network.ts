import type { NetworkMode, NetworkSpec, PortPublish } from './types.js';
import { invalid, show } from './fail.js';
import { validateName } from './name.js';
import { checkPublishConflicts } from './publish.js';

/**
 * The network a container joins. `none` (loopback only) unless a network is named or a port is
 * published; publishing without a name joins DEFAULT_NETWORK, as docker's -p joins its default
 * bridge. The words none, host and bridge select modes (bridge = the default network).
 */
export const DEFAULT_NETWORK = 'vessel';
const MODES: readonly NetworkMode[] = ['none', 'host', 'bridge'];

export function parseNetworkMode(text: string): NetworkMode {
  const t = text.trim();
  if (!(MODES as readonly string[]).includes(t)) invalid(`${show(text)} is not none, host or bridge`);
  return t as NetworkMode;
}

/** A `name =` / `--network` value: a mode word or a network name. */
export function parseNetworkName(text: string): { mode: NetworkMode; name?: string } {
  const t = text.trim();
  if (t === 'none' || t === 'host') return { mode: t };
  if (t === 'bridge') return { mode: 'bridge', name: DEFAULT_NETWORK };
  return { mode: 'bridge', name: validateName(t, 'network name') };
}

export interface NetworkInput {
  /** From `name =` / --network. */
  named?: { mode: NetworkMode; name?: string };
  /** From `mode =`. */
  mode?: NetworkMode;
  publish: PortPublish[];
  aliases: string[];
}

/** Combine the pieces into one NetworkSpec; contradictions are errors, not guesses. */
export function resolveNetwork(input: NetworkInput): NetworkSpec {
  const { named, mode: explicit } = input;
  if (named && explicit && named.mode !== explicit) {
    invalid(`mode ${explicit} contradicts name ${named.name ?? named.mode}`);
  }
  let mode = explicit ?? named?.mode;
  if (mode === undefined) mode = input.publish.length > 0 || input.aliases.length > 0 ? 'bridge' : 'none';
  if (mode !== 'bridge') {
    if (input.publish.length > 0) invalid(`publishing ports needs a bridge network, not mode ${mode}`, `set [network] name (or --network NAME)`);
    if (input.aliases.length > 0) invalid(`aliases need a bridge network, not mode ${mode}`);
    return { mode, publish: [], aliases: [] };
  }
  checkPublishConflicts(input.publish);
  const aliases = [...new Set(input.aliases)];
  return { mode, name: named?.name ?? DEFAULT_NETWORK, publish: input.publish, aliases };
}

export function parseAlias(text: string): string {
  return validateName(text.trim(), 'alias');
}
