import type { Path } from './load.js';
import { asMap, asText, bad, isMap, type Reader } from './values.js';

/**
 * `ports:` → `publish[]` lines in docker's own short syntax, `[IP:][HOST[-HOST]:]CONTAINER[-CONTAINER][/udp]`
 * (IPv6 host addresses in brackets), which is what the spec's publish key takes: one way of
 * writing a mapping from compose file to spec to nftables. Checked here for what compose itself
 * checks (ports in 1..65535, ranges of the same length) so the error names the compose line.
 */
const PORT = /^(\d{1,5})(?:-(\d{1,5}))?$/;

interface Range {
  from: number;
  to: number;
}

function portRange(r: Reader, path: Path, text: string, what: string): Range {
  const m = PORT.exec(text);
  if (!m) bad(r, path, `${JSON.stringify(text)}: ${what} ${JSON.stringify(text)} is not a port or a range of ports`);
  const from = Number(m[1]);
  const to = m[2] === undefined ? from : Number(m[2]);
  for (const p of [from, to]) if (p < 1 || p > 65535) bad(r, path, `${what} ${p} is not in 1..65535`);
  if (to < from) bad(r, path, `${what} range ${text} ends before it starts`);
  return { from, to };
}

const fmt = (x: Range) => (x.from === x.to ? String(x.from) : `${x.from}-${x.to}`);

function mapping(r: Reader, path: Path, hostIp: string | undefined, host: string | undefined, container: string, protocol: string): string {
  if (protocol !== 'tcp' && protocol !== 'udp') bad(r, path, `protocol ${JSON.stringify(protocol)} is not tcp or udp`);
  const c = portRange(r, path, container, 'container port');
  let out = fmt(c);
  if (host !== undefined && host !== '') {
    const h = portRange(r, path, host, 'host port');
    // docker: a host range for one container port picks one free port of it; otherwise the sizes match
    if (h.to - h.from !== c.to - c.from && c.from !== c.to) bad(r, path, `host ports ${fmt(h)} and container ports ${fmt(c)} are ranges of different lengths`);
    out = `${fmt(h)}:${out}`;
  } else if (hostIp !== undefined) out = `:${out}`;
  // an explicit 0.0.0.0 is docker's "every IPv4 address" (IPv4 only), which the spec says the same way
  if (hostIp !== undefined && hostIp !== '') {
    const ip = hostIp.startsWith('[') ? hostIp : hostIp.includes(':') ? `[${hostIp}]` : hostIp;
    if (!/^(\d{1,3}(\.\d{1,3}){3}|\[[0-9A-Fa-f:.]+\])$/.test(ip)) bad(r, path, `${JSON.stringify(hostIp)} is not an IP address`);
    out = `${ip}:${out}`;
  } else if (out.startsWith(':')) out = out.slice(1);
  return protocol === 'udp' ? `${out}/udp` : out;
}

function shortSyntax(r: Reader, path: Path, text: string): string {
  const t = text.trim();
  const slash = t.lastIndexOf('/');
  const protocol = slash < 0 ? 'tcp' : t.slice(slash + 1);
  let rest = slash < 0 ? t : t.slice(0, slash);
  let hostIp: string | undefined;
  if (rest.startsWith('[')) {
    const end = rest.indexOf(']');
    if (end < 0 || rest[end + 1] !== ':') bad(r, path, `${JSON.stringify(t)}: an IPv6 host address is written [ADDR]:HOST:CONTAINER`);
    hostIp = rest.slice(0, end + 1);
    rest = rest.slice(end + 2);
    const parts = rest.split(':');
    if (parts.length !== 2) bad(r, path, `${JSON.stringify(t)} is not a port mapping`);
    return mapping(r, path, hostIp, parts[0], parts[1]!, protocol);
  }
  const parts = rest.split(':');
  if (parts.length === 1) return mapping(r, path, undefined, undefined, parts[0]!, protocol);
  if (parts.length === 2) return mapping(r, path, undefined, parts[0], parts[1]!, protocol);
  if (parts.length === 3) return mapping(r, path, parts[0], parts[1], parts[2]!, protocol);
  return bad(r, path, `${JSON.stringify(t)} is not a port mapping ([IP:][HOST:]CONTAINER[/udp]; an IPv6 address goes in brackets)`);
}

export interface PortContext extends Reader {
  unsupported(path: Path, reason: string): void;
}

const NOT_EXPRESSED: Record<string, string> = {
  name: 'vessel does not name published ports',
  app_protocol: 'vessel publishes tcp and udp ports; it keeps no application protocol',
};

export function convertPort(ctx: PortContext, path: Path, v: unknown): string {
  if (typeof v === 'number') return shortSyntax(ctx, path, String(v));
  if (!isMap(v)) return shortSyntax(ctx, path, asText(ctx, path, v));
  const m = asMap(ctx, path, v);
  if (m.target === undefined) bad(ctx, [...path, 'target'], 'missing (the container port)');
  for (const k of Object.keys(m)) {
    if (NOT_EXPRESSED[k] !== undefined) ctx.unsupported([...path, k], NOT_EXPRESSED[k]);
    else if (!['target', 'published', 'host_ip', 'protocol', 'mode'].includes(k)) bad(ctx, [...path, k], 'not a key of a port mapping');
  }
  // mode: ingress is swarm's routing mesh; on one host it means what host does.
  const published = m.published === undefined ? undefined : asText(ctx, [...path, 'published'], m.published);
  const hostIp = m.host_ip === undefined ? undefined : asText(ctx, [...path, 'host_ip'], m.host_ip);
  const protocol = m.protocol === undefined ? 'tcp' : asText(ctx, [...path, 'protocol'], m.protocol);
  return mapping(ctx, path, hostIp, published, asText(ctx, [...path, 'target'], m.target), protocol);
}
