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

export interface PortOut {
  publish: string;
  /** Long-syntax keys vessel has no use for. */
  ignored: string[];
}

export function convertPort(r: Reader, path: Path, v: unknown): PortOut {
  if (typeof v === 'number') return { publish: shortSyntax(r, path, String(v)), ignored: [] };
  if (!isMap(v)) return { publish: shortSyntax(r, path, asText(r, path, v)), ignored: [] };
  const m = asMap(r, path, v);
  if (m.target === undefined) bad(r, [...path, 'target'], 'missing (the container port)');
  const ignored = Object.keys(m).filter((k) => !['target', 'published', 'host_ip', 'protocol', 'mode', 'name', 'app_protocol'].includes(k));
  for (const k of ignored) bad(r, [...path, k], 'not a key of a port mapping');
  // mode: ingress is swarm's routing mesh; on one host it means what host does.
  const published = m.published === undefined ? undefined : asText(r, [...path, 'published'], m.published);
  const hostIp = m.host_ip === undefined ? undefined : asText(r, [...path, 'host_ip'], m.host_ip);
  const protocol = m.protocol === undefined ? 'tcp' : asText(r, [...path, 'protocol'], m.protocol);
  return {
    publish: mapping(r, path, hostIp, published, asText(r, [...path, 'target'], m.target), protocol),
    ignored: ['name', 'app_protocol'].filter((k) => m[k] !== undefined),
  };
}
