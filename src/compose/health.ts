import type { Path } from './load.js';
import type { Value } from './render.js';
import { asMap, asSeconds, asText, asBool, bad, type Reader } from './values.js';

/**
 * `healthcheck:` → `[health]`. test: `["CMD", argv…]` runs argv; `["CMD-SHELL", "…"]` and a plain
 * string run through /bin/sh -c (docker's rule); `["NONE"]` or `disable: true` means no check.
 * interval, timeout and start_period are compose durations, rounded up to whole seconds.
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
  for (const [key, spec, min] of [['interval', 'interval', 1], ['timeout', 'timeout', 1], ['start_period', 'start_period', 0]] as const) {
    if (h[key] === undefined) continue;
    const { seconds, rounded } = asSeconds(ctx, [...path, key], h[key]);
    const s = Math.max(seconds, min);
    if (rounded || s !== seconds) ctx.note(`${ctx.where([...path, key])}: ${path.join('.')}.${key}: ${asText(ctx, [...path, key], h[key])} taken as ${s}s (vessel counts whole seconds)`);
    out.push([spec, { text: String(s) }]);
  }
  if (h.retries !== undefined) out.push(['retries', { text: asText(ctx, [...path, 'retries'], h.retries) }]);
  for (const k of Object.keys(h)) {
    if (!['test', 'interval', 'timeout', 'start_period', 'retries', 'disable'].includes(k)) ctx.unsupported([...path, k], 'not a [health] setting of vessel');
  }
  return out;
}
