import { formatHostIp, formatPublish, parsePublish } from '../spec/index.js';
import { VesselError } from '../util/index.js';
import type { Path } from './load.js';
import { asMap, asText, bad, isMap, type Reader } from './values.js';

/**
 * `ports:` → `publish[]` lines. Compose's short syntax is docker's `-p` syntax, which is what the
 * spec's publish key takes; the long syntax is written in it. Either is read by the spec's own
 * parser (parsePublish: ports, ranges, addresses, protocol) with the compose entry's path in front
 * of its message, and written back in the spec's one spelling (formatPublish).
 */
export interface PortContext extends Reader {
  unsupported(path: Path, reason: string): void;
}

function publish(ctx: PortContext, path: Path, text: string): string {
  try {
    return formatPublish(parsePublish(text));
  } catch (e) {
    if (!(e instanceof VesselError)) throw e;
    return bad(ctx, path, e.message, e.hint);
  }
}

const NOT_EXPRESSED: Record<string, string> = {
  name: 'vessel does not name published ports',
  app_protocol: 'vessel publishes tcp and udp ports; it keeps no application protocol',
};

/** A long-syntax port value: the separators of the short syntax in it would change what it means. */
function portPart(ctx: PortContext, path: Path, v: unknown): string {
  const t = asText(ctx, path, v).trim();
  if (/[:/[\]]/.test(t)) bad(ctx, path, `${JSON.stringify(t)} is not a port or a range of ports`);
  return t;
}

function longSyntax(ctx: PortContext, path: Path, m: Record<string, unknown>): string {
  if (m.target === undefined) bad(ctx, [...path, 'target'], 'missing (the container port)');
  for (const k of Object.keys(m)) {
    if (NOT_EXPRESSED[k] !== undefined) ctx.unsupported([...path, k], NOT_EXPRESSED[k]);
    else if (!['target', 'published', 'host_ip', 'protocol', 'mode'].includes(k)) bad(ctx, [...path, k], 'not a key of a port mapping');
  }
  // mode: ingress is swarm's routing mesh; on one host it means what host does.
  const target = portPart(ctx, [...path, 'target'], m.target);
  const published = m.published === undefined ? '' : portPart(ctx, [...path, 'published'], m.published);
  const ip = m.host_ip === undefined ? '' : asText(ctx, [...path, 'host_ip'], m.host_ip).trim();
  const protocol = m.protocol === undefined ? 'tcp' : asText(ctx, [...path, 'protocol'], m.protocol).trim();
  const host = ip === '' ? (published === '' ? '' : `${published}:`) : `${ip.startsWith('[') ? ip : formatHostIp(ip)}:${published}:`;
  return publish(ctx, path, `${host}${target}/${protocol}`);
}

export function convertPort(ctx: PortContext, path: Path, v: unknown): string {
  if (isMap(v)) return longSyntax(ctx, path, asMap(ctx, path, v));
  return publish(ctx, path, (typeof v === 'number' ? String(v) : asText(ctx, path, v)).trim());
}
