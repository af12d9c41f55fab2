import type { RestartPolicy, WaitMode } from './types.js';
import { invalid, show } from './fail.js';
import { didYouMean } from './suggest.js';
import { parseInteger } from './units.js';

/** `always | on-failure[:N] | no`, as docker's --restart (unless-stopped has no meaning for a vassal). */
export function parseRestart(text: string): RestartPolicy {
  const t = text.trim();
  if (t === 'always' || t === 'no') return { mode: t };
  const m = /^on-failure(?::(.*))?$/.exec(t);
  if (m) {
    if (m[1] === undefined) return { mode: 'on-failure' };
    return { mode: 'on-failure', maxRetries: parseInteger(m[1], 1) };
  }
  return invalid(`${show(text)} is not a restart policy (always, on-failure, on-failure:N or no)${didYouMean(t, ['always', 'on-failure', 'no'])}`);
}

export function formatRestart(r: RestartPolicy): string {
  return r.mode === 'on-failure' && r.maxRetries !== undefined ? `on-failure:${r.maxRetries}` : r.mode;
}

export function parseWait(text: string): WaitMode {
  const t = text.trim();
  if (t !== 'all' && t !== 'main') {
    invalid(`${show(text)} is not all or main`, 'all: the container lives while any process in it lives (jail semantics); main: it ends with its command (docker)');
  }
  return t;
}
