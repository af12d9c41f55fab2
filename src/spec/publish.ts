import type { PortAcl, PortPublish, Protocol } from './types.js';
import { invalid, show } from './fail.js';
import { isIPv4 } from '../util/index.js';

/**
 * Published ports `[IP:]HOST:CONTAINER[/tcp|udp]` (docker's -p; a pf rdr rule or an nftables
 * DNAT) and mac_portacl entries `tcp:80`. IPv4 only: vessel's networks are IPv4.
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

export function parsePublish(text: string): PortPublish {
  const slash = text.lastIndexOf('/');
  const addr = slash < 0 ? text : text.slice(0, slash);
  const protocol = slash < 0 ? 'tcp' : parseProtocol(text.slice(slash + 1), text);
  const parts = addr.split(':');
  if (parts.length < 2 || parts.length > 3) {
    invalid(`${show(text)} is not a port mapping (use HOST:CONTAINER, IP:HOST:CONTAINER, add /udp for UDP)`);
  }
  const out: PortPublish = {
    hostPort: parsePort(parts[parts.length - 2]!, text),
    containerPort: parsePort(parts[parts.length - 1]!, text),
    protocol,
  };
  if (parts.length === 3) {
    const ip = parts[0]!;
    if (!isIPv4(ip)) invalid(`${show(text)}: ${show(ip)} is not an IPv4 address`);
    // 0.0.0.0 is "every address", which is what no address means: one spelling keeps specs comparable.
    if (ip !== '0.0.0.0') out.hostIp = ip;
  }
  return out;
}

export function formatPublish(p: PortPublish): string {
  return `${p.hostIp === undefined ? '' : `${p.hostIp}:`}${p.hostPort}:${p.containerPort}/${p.protocol}`;
}

/** Two mappings of the same host address, port and protocol cannot both be honoured. */
export function checkPublishConflicts(list: readonly PortPublish[]): void {
  const seen = new Map<string, PortPublish>();
  for (const p of list) {
    for (const [k, q] of seen) {
      if (q.protocol === p.protocol && q.hostPort === p.hostPort &&
          (q.hostIp === undefined || p.hostIp === undefined || q.hostIp === p.hostIp)) {
        invalid(`${show(formatPublish(p))} takes host port ${p.hostPort}/${p.protocol} already taken by ${show(k)}`);
      }
    }
    seen.set(formatPublish(p), p);
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
