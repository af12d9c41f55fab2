import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { VesselError, hostOs, isIPv4 } from '../util/index.js';
import { formatPublish, type PortPublish } from '../spec/index.js';
import type { NetworkRecord } from './types.js';

/**
 * Published ports: checked before anything is created, so that a port taken by another container
 * or by a host service fails the start with a clear message instead of silently stealing traffic
 * (a DNAT rule wins over a listening socket).
 */
/** The one spelling of a mapping (spec's), re-exported for net's callers. */
export { formatPublish };

function isPort(n: number): boolean {
  return Number.isInteger(n) && n >= 1 && n <= 65535;
}

/** Defence in depth: src/spec parses `-p`, but a spec can come from code (tests, the Emperor). */
export function validatePublish(list: PortPublish[], container: string): void {
  const seen = new Set<string>();
  for (const p of list) {
    const what = `${container}: publish ${formatPublish(p)}`;
    if (!isPort(p.hostPort)) throw new VesselError('E_SPEC', `${what}: host port ${p.hostPort} is not within 1-65535`);
    if (!isPort(p.containerPort)) throw new VesselError('E_SPEC', `${what}: container port ${p.containerPort} is not within 1-65535`);
    if (p.protocol !== 'tcp' && p.protocol !== 'udp') throw new VesselError('E_SPEC', `${what}: protocol must be tcp or udp`);
    if (p.hostIp !== undefined && !isIPv4(p.hostIp)) throw new VesselError('E_SPEC', `${what}: ${p.hostIp} is not an IPv4 address`);
    const key = `${p.protocol}/${p.hostPort}`;
    if (seen.has(key)) throw new VesselError('E_SPEC', `${what}: host port ${key} is published twice`);
    seen.add(key);
  }
}

function clash(a: PortPublish, hostIp: string | undefined, port: number, protocol: string): boolean {
  if (a.protocol !== protocol || a.hostPort !== port) return false;
  const wildcard = (ip: string | undefined) => ip === undefined || ip === '0.0.0.0';
  return wildcard(a.hostIp) || wildcard(hostIp) || a.hostIp === hostIp;
}

/** A port published by another container of this vessel installation. */
export function checkPublishedElsewhere(list: PortPublish[], container: string, networks: NetworkRecord[]): void {
  for (const p of list) {
    for (const net of networks) {
      for (const lease of Object.values(net.leases)) {
        if (lease.container === container) continue;
        const other = lease.publish.find((q) => clash(p, q.hostIp, q.hostPort, q.protocol));
        if (other) {
          throw new VesselError('E_IN_USE', `${container}: port ${p.hostPort}/${p.protocol} is already published by container ${lease.container} (${formatPublish(other)})`, {
            hint: 'pick another host port, or stop that container',
          });
        }
      }
    }
  }
}

export interface Listener {
  protocol: 'tcp' | 'udp';
  /** Dotted IPv4, or undefined for a wildcard (0.0.0.0 or ::) socket. */
  ip: string | undefined;
  port: number;
}

function hexToIpv4(hex: string): string {
  // /proc/net prints the address as the kernel's u32 in host byte order: little-endian here.
  const n = parseInt(hex, 16);
  return [n & 255, (n >>> 8) & 255, (n >>> 16) & 255, n >>> 24].join('.');
}

/**
 * Sockets bound on the host from /proc/net/{tcp,udp}[6] text: TCP in LISTEN, UDP unconnected.
 * IPv6 wildcard sockets count as IPv4 wildcards (dual-stack); v4-mapped addresses as their v4.
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
      out.push({ protocol, ip: /^0+$/.test(addr) ? undefined : hexToIpv4(addr), port });
    } else if (/^0+$/.test(addr)) {
      out.push({ protocol, ip: undefined, port });
    } else if (addr.slice(0, 24).toUpperCase() === '0000000000000000FFFF0000') {
      out.push({ protocol, ip: hexToIpv4(addr.slice(24)), port });
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

export function checkHostListeners(list: PortPublish[], container: string, listeners: Listener[]): void {
  for (const p of list) {
    const l = listeners.find((s) => clash(p, s.ip, s.port, s.protocol));
    if (l) {
      throw new VesselError('E_IN_USE', `${container}: port ${p.hostPort}/${p.protocol} is already in use on the host (a socket is bound to ${l.ip ?? '*'}:${l.port})`, {
        hint: 'pick another host port, or stop the service using it (ss -lntup)',
      });
    }
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
    if (p.hostIp === undefined || p.hostIp === '0.0.0.0') continue;
    if (!(await isLocalAddress(p.hostIp))) {
      throw new VesselError('E_SPEC', `${container}: publish ${formatPublish(p)}: ${p.hostIp} is not an address of this host`, {
        hint: 'use one of the host\'s addresses (ip -4 addr), 127.0.0.1, or no address for all of them',
      });
    }
  }
}
