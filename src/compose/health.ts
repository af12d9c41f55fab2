import { formatDuration } from '../spec/index.js';
import type { Path } from './load.js';
import type { Value } from './render.js';
import { asMap, asDuration, asText, asBool, bad, type Reader } from './values.js';

/**
 * `healthcheck:` → `[health]`. test: `["CMD", argv…]` runs argv; `["CMD-SHELL", "…"]` and a plain
 * string run through /bin/sh -c (docker's rule); `["NONE"]` or `disable: true` means no check.
 * interval, timeout and start_period are compose durations, written as the spec's own durations
 * (milliseconds, formatDuration); 0 is docker's "not set" (the image's value, else the default), so
 * it is left out.
 */
export interface HealthContext extends Reader {
  unsupported(path: Path, reason: string): void;
  note(text: string): void;
}

export function convertHealth(ctx: HealthContext, path: Path, v: unknown): Array<[string, Value]> {
  const h = asMap(ctx, path, v);
  if (h.disable !== undefined && asBool(ctx, [...path, 'disable'], h.disable)) return [];
  if (h.test === undefined) return [];
  let argv: string[];
  if (Array.isArray(h.test)) {
    const words = h.test.map((x, i) => asText(ctx, [...path, 'test', i], x));
    const [kind, ...rest] = words;
    if (kind === 'NONE') return [];
    if (kind === 'CMD') argv = rest;
    else if (kind === 'CMD-SHELL') {
      if (rest.length !== 1) bad(ctx, [...path, 'test'], 'CMD-SHELL takes one command string');
      argv = ['/bin/sh', '-c', rest[0]!];
    } else return bad(ctx, [...path, 'test'], `${JSON.stringify(kind)}: a test list starts with CMD, CMD-SHELL or NONE`);
  } else argv = ['/bin/sh', '-c', asText(ctx, [...path, 'test'], h.test)];
  if (argv.length === 0) bad(ctx, [...path, 'test'], 'the command is empty');
  const out: Array<[string, Value]> = [['command', { argv }]];
  for (const key of ['interval', 'timeout', 'start_period'] as const) {
    if (h[key] === undefined) continue;
    const p = [...path, key];
    const { ms, rounded } = asDuration(ctx, p, h[key]);
    if (ms === 0) continue;
    if (rounded) ctx.note(`${ctx.where(p)}: ${path.join('.')}.${key}: ${asText(ctx, p, h[key])} taken as ${formatDuration(ms)} (vessel's health timers count milliseconds)`);
    out.push([key, { text: formatDuration(ms) }]);
  }
  if (h.retries !== undefined) out.push(['retries', { text: asText(ctx, [...path, 'retries'], h.retries) }]);
  for (const k of Object.keys(h)) {
    if (!['test', 'interval', 'timeout', 'start_period', 'retries', 'disable'].includes(k)) ctx.unsupported([...path, k], 'not a [health] setting of vessel');
  }
  return out;
}
