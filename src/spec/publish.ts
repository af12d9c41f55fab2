import type { PortAcl, PortPublish, Protocol } from './types.js';
import { invalid, show } from './fail.js';
import { canonicalIPv6, isIPv4, isIPv6 } from '../util/index.js';

/**
 * Published ports as docker's `-p` takes them (docs.docker.com "Published ports"; the parser is
 * go-connections nat.ParsePortSpec): `[IP:][HOST[-END]:]CONTAINER[-END][/tcp|udp]`, an IPv6
 * address in brackets (`[::1]:8080:80`), an empty HOST (`IP::80`) or none (`80`) for a free port
 * chosen at start. And mac_portacl entries `tcp:80`.
 */
export function parsePort(text: string, original: string): number {
  if (!/^\d{1,5}$/.test(text)) invalid(`${show(original)}: ${show(text)} is not a port number`);
  const n = Number(text);
  if (n < 1 || n > 65535) invalid(`${show(original)}: port ${n} is not in 1..65535`);
  return n;
}

function parseProtocol(text: string, original: string): Protocol {
  if (text !== 'tcp' && text !== 'udp') invalid(`${show(original)}: ${show(text)} is not tcp or udp`);
  return text;
}

/** `80` or `8000-8010` → first and last port (equal for one port). */
function parseRange(text: string, original: string): [number, number] {
  const dash = text.indexOf('-');
  if (dash < 0) {
    const p = parsePort(text, original);
    return [p, p];
  }
  const first = parsePort(text.slice(0, dash), original);
  const last = parsePort(text.slice(dash + 1), original);
  if (last < first) invalid(`${show(original)}: range ${text} is reversed (its first port is above its last)`);
  return [first, last];
}

/** The host address part: `[v6]` or dotted IPv4, `0.0.0.0` and `[::]` meaning one whole family. */
function parseHostIp(text: string, original: string): string {
  if (text.startsWith('[')) {
    const inner = text.slice(1, -1);
    if (!text.endsWith(']') || !isIPv6(inner)) invalid(`${show(original)}: ${show(text)} is not an IPv6 address in brackets`);
    const ip = canonicalIPv6(inner);
    // fe80::/10 means something only with its interface, which a mapping cannot name.
    if (/^fe[89ab][0-9a-f]:/.test(ip)) invalid(`${show(original)}: ${ip} is a link-local address`, 'publish on a global or unique-local address of the host, or on none');
    return ip;
  }
  if (!isIPv4(text)) invalid(`${show(original)}: ${show(text)} is not an IPv4 address or a bracketed IPv6 address`);
  return text;
}

export function parsePublish(text: string): PortPublish {
  const slash = text.lastIndexOf('/');
  const body = slash < 0 ? text : text.slice(0, slash);
  const protocol = slash < 0 ? 'tcp' : parseProtocol(text.slice(slash + 1), text);
  let ipText: string | undefined;
  let rest = body;
  if (body.startsWith('[')) {
    const close = body.indexOf(']');
    if (close < 0 || body[close + 1] !== ':') invalid(`${show(text)}: an IPv6 host address is written [ADDRESS]:HOST:CONTAINER`);
    ipText = body.slice(0, close + 1);
    rest = body.slice(close + 2);
  }
  const parts = rest.split(':');
  if (ipText === undefined && parts.length > 3 && isIPv6(parts.slice(0, -2).join(':'))) {
    invalid(`${show(text)}: an IPv6 host address goes in brackets`, `write [${parts.slice(0, -2).join(':')}]:${parts.slice(-2).join(':')}`);
  }
  if (ipText === undefined && parts.length === 3) ipText = parts.shift()!;
  if (parts.length > 2 || (ipText !== undefined && parts.length !== 2)) {
    invalid(`${show(text)} is not a port mapping (use CONTAINER, HOST:CONTAINER or IP:HOST:CONTAINER; ranges as 8000-8010; add /udp for UDP)`);
  }
  const hostText = parts.length === 2 ? parts[0]! : '';
  const [cFirst, cLast] = parseRange(parts[parts.length - 1]!, text);
  const out: PortPublish = { hostPort: 0, containerPort: cFirst, protocol };
  if (cLast !== cFirst) out.containerPortEnd = cLast;
  if (hostText !== '') {
    const [hFirst, hLast] = parseRange(hostText, text);
    out.hostPort = hFirst;
    if (hLast !== hFirst) out.hostPortEnd = hLast;
    const hostCount = hLast - hFirst + 1;
    const containerCount = cLast - cFirst + 1;
    // docker: a host range with one container port is the range to pick a free port from;
    // otherwise both sides must be equally long.
    if (hostCount !== containerCount && containerCount !== 1) {
      const n = (k: number, what: string) => `${k} ${what} port${k === 1 ? '' : 's'}`;
      invalid(`${show(text)}: ${n(hostCount, 'host')} (${hostText}) for ${n(containerCount, 'container')} (${parts[parts.length - 1]})`, 'give equally long ranges, or one container port with a host range to pick a free port from');
    }
  }
  if (ipText !== undefined && ipText !== '') out.hostIp = parseHostIp(ipText, text);
  else if (ipText === '') invalid(`${show(text)}: the host address is empty`, 'leave it out (HOST:CONTAINER) to publish on every address');
  return out;
}

function range(first: number, last: number | undefined): string {
  return last === undefined ? String(first) : `${first}-${last}`;
}

export function formatHostIp(ip: string): string {
  return ip.includes(':') ? `[${ip}]` : ip;
}

/** The one spelling of a mapping, parsePublish's inverse: `[::1]:8000-8010:8000-8010/udp`, `80/tcp`. */
export function formatPublish(p: PortPublish): string {
  const ip = p.hostIp === undefined ? '' : `${formatHostIp(p.hostIp)}:`;
  const host = p.hostPort === 0 ? '' : `${range(p.hostPort, p.hostPortEnd)}:`;
  const head = ip !== '' && host === '' ? `${ip}:` : `${ip}${host}`;
  return `${head}${range(p.containerPort, p.containerPortEnd)}/${p.protocol}`;
}

/** How many container ports the mapping publishes. */
export function portCount(p: PortPublish): number {
  return (p.containerPortEnd ?? p.containerPort) - p.containerPort + 1;
}

/** The host port is chosen at start: none given, or one port picked from a host range. */
export function isDynamicPublish(p: PortPublish): boolean {
  return p.hostPort === 0 || (p.hostPortEnd !== undefined && p.containerPortEnd === undefined);
}

/** Host ports the mapping may take: [first, last] (the whole pick range when dynamic; none for hostPort 0). */
export function hostPortSpan(p: PortPublish): [number, number] | undefined {
  if (p.hostPort === 0) return undefined;
  return [p.hostPort, p.hostPortEnd ?? p.hostPort + portCount(p) - 1];
}

/** The address families a host address covers: none given = both. */
export function hostFamilies(hostIp: string | undefined): Array<4 | 6> {
  if (hostIp === undefined) return [4, 6];
  return hostIp.includes(':') ? [6] : [4];
}

/** Two host addresses that receive some of the same packets: a wildcard of a family covers all of it. */
export function hostIpsIntersect(a: string | undefined, b: string | undefined): boolean {
  const wildcard = (ip: string | undefined) => ip === undefined || ip === '0.0.0.0' || ip === '::';
  return hostFamilies(a).some((f) => hostFamilies(b).includes(f)) && (wildcard(a) || wildcard(b) || a === b);
}

/** Two mappings that would redirect the same packets: same protocol, overlapping host ports, shared addresses. */
export function publishOverlaps(a: PortPublish, b: PortPublish): boolean {
  const sa = hostPortSpan(a);
  const sb = hostPortSpan(b);
  if (!sa || !sb || a.protocol !== b.protocol) return false;
  return sa[0] <= sb[1] && sb[0] <= sa[1] && hostIpsIntersect(a.hostIp, b.hostIp);
}

/** Two mappings of the same host address, port and protocol cannot both be honoured. */
export function checkPublishConflicts(list: readonly PortPublish[]): void {
  const seen: PortPublish[] = [];
  for (const p of list) {
    // Dynamic ones take a free port at start, which is never one another mapping holds.
    const q = isDynamicPublish(p) ? undefined : seen.find((s) => !isDynamicPublish(s) && publishOverlaps(s, p));
    if (q) {
      const span = hostPortSpan(p)!;
      invalid(`${show(formatPublish(p))} takes host port${span[0] === span[1] ? ` ${span[0]}` : `s ${span[0]}-${span[1]}`}/${p.protocol} already taken by ${show(formatPublish(q))}`);
    }
    seen.push(p);
  }
}

/** `tcp:80` (mac_portacl(4) takes the protocol first). */
export function parsePortAcl(text: string): PortAcl {
  const m = /^([a-z]+):(\d+)$/.exec(text.trim());
  if (!m) invalid(`${show(text)} is not a port ACL (use tcp:80 or udp:53)`);
  return { protocol: parseProtocol(m[1]!, text), port: parsePort(m[2]!, text) };
}

export function formatPortAcl(a: PortAcl): string {
  return `${a.protocol}:${a.port}`;
}
