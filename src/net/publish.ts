import { randomInt } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { VesselError, bigIntToIPv6, hostOs, isIPv4, isIPv6 } from '../util/index.js';
import {
  checkPublishConflicts, formatHostIp, formatPublish, hostPortSpan, isDynamicPublish, portCount, publishOverlaps, type PortPublish,
} from '../spec/index.js';
import type { NetworkRecord } from './types.js';

/**
 * Published ports: checked before anything is created, so that a port taken by another container
 * or by a host service fails the start with a clear message instead of silently stealing traffic
 * (a DNAT rule wins over a listening socket); host ports left to vessel are chosen here.
 */
/** The one spelling of a mapping (spec's), re-exported for net's callers. */
export { formatPublish };

function isPort(n: number): boolean {
  return Number.isInteger(n) && n >= 1 && n <= 65535;
}

function portsText(span: [number, number], protocol: string): string {
  return span[0] === span[1] ? `port ${span[0]}/${protocol}` : `ports ${span[0]}-${span[1]}/${protocol}`;
}

/**
 * Defence in depth: src/spec parses `-p`, but a spec can come from code (tests, the Emperor). The
 * numbers are checked here on the objects (the spec checks them on its text); two mappings of the
 * same host ports by the spec's own check.
 */
export function validatePublish(list: PortPublish[], container: string): void {
  for (const p of list) {
    const what = `${container}: publish ${formatPublish(p)}`;
    if (p.hostPort !== 0 && !isPort(p.hostPort)) throw new VesselError('E_SPEC', `${what}: host port ${p.hostPort} is not within 1-65535`);
    if (!isPort(p.containerPort)) throw new VesselError('E_SPEC', `${what}: container port ${p.containerPort} is not within 1-65535`);
    for (const [first, last, side] of [[p.hostPort, p.hostPortEnd, 'host'], [p.containerPort, p.containerPortEnd, 'container']] as const) {
      if (last !== undefined && (!isPort(last) || last < first)) throw new VesselError('E_SPEC', `${what}: ${side} range ${first}-${last} is not a range within 1-65535`);
    }
    if (p.hostPort === 0 && p.hostPortEnd !== undefined) throw new VesselError('E_SPEC', `${what}: a host range needs its first port`);
    if (p.hostPortEnd !== undefined && p.containerPortEnd !== undefined && p.hostPortEnd - p.hostPort !== p.containerPortEnd - p.containerPort) {
      throw new VesselError('E_SPEC', `${what}: the host and container ranges are not equally long`);
    }
    if (p.protocol !== 'tcp' && p.protocol !== 'udp') throw new VesselError('E_SPEC', `${what}: protocol must be tcp or udp`);
    if (p.hostIp !== undefined && !isIPv4(p.hostIp) && !isIPv6(p.hostIp)) throw new VesselError('E_SPEC', `${what}: ${p.hostIp} is not an IP address`);
  }
  try {
    checkPublishConflicts(list);
  } catch (e) {
    if (!(e instanceof VesselError)) throw e;
    throw new VesselError(e.code, `${container}: publish ${e.message}`, e.hint === undefined ? {} : { hint: e.hint });
  }
}

/** A port published by another container of this vessel installation. */
export function checkPublishedElsewhere(list: PortPublish[], container: string, networks: NetworkRecord[]): void {
  for (const p of list) {
    if (isDynamicPublish(p)) continue;
    for (const net of networks) {
      for (const lease of Object.values(net.leases)) {
        if (lease.container === container) continue;
        const other = lease.publish.find((q) => publishOverlaps(p, q));
        if (other) {
          throw new VesselError('E_IN_USE', `${container}: ${portsText(hostPortSpan(p)!, p.protocol)} ${hostPortSpan(p)![0] === hostPortSpan(p)![1] ? 'is' : 'are'} already published by container ${lease.container} (${formatPublish(other)})`, {
            hint: 'pick other host ports, or stop that container',
          });
        }
      }
    }
  }
}

export interface Listener {
  protocol: 'tcp' | 'udp';
  /**
   * Where the socket is bound: undefined for an IPv6 wildcard socket (it takes IPv4 too unless
   * IPV6_V6ONLY, which /proc does not show), `0.0.0.0` for an IPv4 one, else the address.
   */
  ip: string | undefined;
  port: number;
}

function hexToIpv4(hex: string): string {
  // /proc/net prints the address as the kernel's u32 in host byte order: little-endian here.
  const n = parseInt(hex, 16);
  return [n & 255, (n >>> 8) & 255, (n >>> 16) & 255, n >>> 24].join('.');
}

/** /proc/net/tcp6 prints an in6_addr as four host-order (little-endian) u32 words. */
function hexToIpv6(hex: string): string {
  const words = hex.match(/.{8}/g)!.map((w) => w.match(/../g)!.reverse().join(''));
  return bigIntToIPv6(BigInt(`0x${words.join('')}`));
}

/**
 * Sockets bound on the host from /proc/net/{tcp,udp}[6] text: TCP in LISTEN, UDP unconnected.
 * IPv6 wildcard sockets count for both families (dual-stack); v4-mapped addresses as their v4.
 */
export function parseProcNet(text: string, protocol: 'tcp' | 'udp'): Listener[] {
  const out: Listener[] = [];
  for (const line of text.split('\n').slice(1)) {
    const f = line.trim().split(/\s+/);
    if (f.length < 4) continue;
    const [local, remote, state] = [f[1]!, f[2]!, f[3]!];
    if (protocol === 'tcp' && state !== '0A') continue;
    if (protocol === 'udp' && !/^0+:0000$/.test(remote)) continue;
    const [addr, portHex] = local.split(':') as [string, string];
    const port = parseInt(portHex, 16);
    if (addr.length === 8) {
      out.push({ protocol, ip: /^0+$/.test(addr) ? '0.0.0.0' : hexToIpv4(addr), port });
    } else if (/^0+$/.test(addr)) {
      out.push({ protocol, ip: undefined, port });
    } else if (addr.slice(0, 24).toUpperCase() === '0000000000000000FFFF0000') {
      out.push({ protocol, ip: hexToIpv4(addr.slice(24)), port });
    } else if (addr.length === 32) {
      out.push({ protocol, ip: hexToIpv6(addr), port });
    }
  }
  return out;
}

function readProc(path: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return '';
  }
}

/** Host services already bound to a port we are about to redirect (Linux; [] elsewhere). */
export function hostListeners(): Listener[] {
  // hostOs(), not process.platform: a FreeBSD transcript test on Linux must not read Linux's sockets.
  if (hostOs() !== 'linux') return [];
  return [
    ...parseProcNet(readProc('/proc/net/tcp'), 'tcp'),
    ...parseProcNet(readProc('/proc/net/tcp6'), 'tcp'),
    ...parseProcNet(readProc('/proc/net/udp'), 'udp'),
    ...parseProcNet(readProc('/proc/net/udp6'), 'udp'),
  ];
}

function asPublish(l: Listener): PortPublish {
  return { ...(l.ip !== undefined ? { hostIp: l.ip } : {}), hostPort: l.port, containerPort: l.port, protocol: l.protocol };
}

/**
 * The sockets not on ports `held` already redirects: those are behind the redirect rather than in
 * its way (a [::1] relay of the container holding them, or a socket the redirect already wins over).
 */
export function listenersBesides(listeners: Listener[], held: PortPublish[]): Listener[] {
  return listeners.filter((l) => !held.some((p) => publishOverlaps(p, asPublish(l))));
}

export function checkHostListeners(list: PortPublish[], container: string, listeners: Listener[]): void {
  for (const p of list) {
    if (isDynamicPublish(p)) continue;
    const l = listeners.find((s) => publishOverlaps(p, asPublish(s)));
    if (l) {
      throw new VesselError('E_IN_USE', `${container}: port ${l.port}/${p.protocol} is already in use on the host (a socket is bound to ${l.ip === undefined ? '*' : formatHostIp(l.ip)}:${l.port})`, {
        hint: 'pick another host port, or stop the service using it (ss -lntup)',
      });
    }
  }
}

/**
 * Where free host ports are drawn from: the kernel's ephemeral range, as docker does (Linux
 * net.ipv4.ip_local_port_range; FreeBSD's default net.inet.ip.portrange.first/last).
 */
export function dynamicPortRange(): [number, number] {
  if (hostOs() === 'linux') {
    const m = /^(\d+)\s+(\d+)/.exec(readProc('/proc/sys/net/ipv4/ip_local_port_range'));
    if (m) return [Number(m[1]), Number(m[2])];
  }
  return [49152, 65535];
}

/**
 * The mappings with every host port chosen (what the lease records): `-p 80` gets a random free
 * port of `range`, one per container port; `8000-8010:80` the first free port of its host range.
 * Free means: published by no other container, bound by no socket, not taken by this list.
 */
export function resolvePublish(
  list: PortPublish[],
  container: string,
  networks: NetworkRecord[],
  listeners: Listener[],
  range: [number, number],
  random: (min: number, maxExclusive: number) => number = randomInt,
): PortPublish[] {
  const taken: PortPublish[] = [
    ...networks.flatMap((n) => Object.values(n.leases).filter((l) => l.container !== container).flatMap((l) => l.publish)),
    ...listeners.map(asPublish),
    ...list.filter((p) => !isDynamicPublish(p)),
  ];
  const free = (p: PortPublish) => !taken.some((q) => publishOverlaps(p, q));
  const out: PortPublish[] = [];
  for (const p of list) {
    if (!isDynamicPublish(p)) {
      out.push(p);
      continue;
    }
    const { hostPortEnd: _h, containerPortEnd: _c, ...base } = p;
    for (let i = 0; i < portCount(p); i++) {
      const candidate = (hostPort: number): PortPublish => ({ ...base, hostPort, containerPort: p.containerPort + i });
      let chosen: PortPublish | undefined;
      if (p.hostPort !== 0) {
        for (let h = p.hostPort; h <= p.hostPortEnd! && !chosen; h++) if (free(candidate(h))) chosen = candidate(h);
      } else {
        // Random tries first (docker-like, unpredictable), then a sweep so a nearly full range still answers.
        for (let t = 0; t < 64 && !chosen; t++) {
          const c = candidate(random(range[0], range[1] + 1));
          if (free(c)) chosen = c;
        }
        for (let h = range[0]; h <= range[1] && !chosen; h++) if (free(candidate(h))) chosen = candidate(h);
      }
      if (!chosen) {
        const where = p.hostPort !== 0 ? `${p.hostPort}-${p.hostPortEnd}` : `${range[0]}-${range[1]}`;
        throw new VesselError('E_IN_USE', `${container}: publish ${formatPublish(p)}: no free host port in ${where}/${p.protocol}`, {
          hint: 'free a port, or give the host port yourself',
        });
      }
      taken.push(chosen);
      out.push(chosen);
    }
  }
  return out;
}

/**
 * A mapping only of IPv6 addresses on an IPv4-only network could never reach the container
 * (NAT does not translate between families). `dualStack` is asked only when there is one (for a
 * network still to be made, the answer is the host's, a command on FreeBSD).
 */
export async function checkFamilies(list: PortPublish[], container: string, network: string, dualStack: () => Promise<boolean>): Promise<void> {
  const v6only = list.find((p) => p.hostIp !== undefined && p.hostIp.includes(':'));
  if (v6only && !(await dualStack())) {
    throw new VesselError('E_SPEC', `${container}: publish ${formatPublish(v6only)}: network ${network} has no IPv6 (--ipv6=false, or IPv6 is off on this host)`, {
      hint: 'publish on an IPv4 address (or none), or use a dual-stack network',
    });
  }
}

/** Whether the host owns `ip`: binding to it succeeds only then (EADDRNOTAVAIL otherwise). */
function isLocalAddress(ip: string): Promise<boolean> {
  return new Promise((res) => {
    const s = createServer();
    s.once('error', (e: NodeJS.ErrnoException) => res(e.code !== 'EADDRNOTAVAIL'));
    s.listen(0, ip, () => s.close(() => res(true)));
  });
}

/**
 * A redirect bound to an address the host does not have would never match (`fib daddr type
 * local`): say so instead of publishing a port nobody can reach.
 */
export async function checkHostAddresses(list: PortPublish[], container: string): Promise<void> {
  for (const p of list) {
    if (p.hostIp === undefined || p.hostIp === '0.0.0.0' || p.hostIp === '::') continue;
    if (!(await isLocalAddress(p.hostIp))) {
      throw new VesselError('E_SPEC', `${container}: publish ${formatPublish(p)}: ${p.hostIp} is not an address of this host`, {
        hint: 'use one of the host\'s addresses (ip addr), 127.0.0.1, ::1, or no address for all of them',
      });
    }
  }
}
