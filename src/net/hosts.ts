import { closeSync, constants, ftruncateSync, mkdirSync, openSync, readFileSync, writeSync } from 'node:fs';
import { dirname } from 'node:path';
import { hasErrno } from '../util/index.js';
import type { NetworkRecord } from './types.js';

/**
 * The files a container on a network gets as /etc/hosts and /etc/resolv.conf. One of each per
 * network, bind-mounted read-only into every member, so a container that joins later is visible
 * to those already running.
 */
export function renderHosts(net: NetworkRecord): string {
  const lines = ['127.0.0.1\tlocalhost', '::1\tlocalhost ip6-localhost ip6-loopback', `${net.gateway}\t${net.name}-gateway`];
  if (net.gateway6 !== undefined) lines.push(`${net.gateway6}\t${net.name}-gateway`);
  return [...lines, ...peerLines(net)].join('\n') + '\n';
}

/**
 * Lines of renderHosts() that name containers (RuntimeNetwork.hosts), each member under both of
 * its addresses on a dual-stack network; `except` leaves one container out.
 */
export function peerLines(net: NetworkRecord, except?: string): string[] {
  const leases = Object.values(net.leases)
    .filter((l) => l.container !== except)
    .sort((a, b) => a.container.localeCompare(b.container));
  return leases.flatMap((l) => [l.address, ...(l.address6 !== undefined ? [l.address6] : [])].map((a) => `${a}\t${l.names.join(' ')}`));
}

/**
 * Name servers for containers: the host's, minus loopback ones (127.0.0.53 of systemd-resolved,
 * a local dnsmasq), which inside the container's own network namespace would be the container
 * itself. With none left, public resolvers, as docker does, so names still resolve.
 */
export function nameservers(hostResolvConf: string): string[] {
  const out: string[] = [];
  for (const raw of hostResolvConf.split('\n')) {
    const m = /^\s*nameserver\s+(\S+)/.exec(raw);
    if (m && !m[1]!.startsWith('127.') && m[1] !== '::1') out.push(m[1]!);
  }
  return out.length > 0 ? out : ['8.8.8.8', '1.1.1.1'];
}

export function renderResolvConf(hostResolvConf: string): string {
  const keep = hostResolvConf.split('\n').filter((l) => /^\s*(search|domain|options)\s/.test(l));
  return [...nameservers(hostResolvConf).map((n) => `nameserver ${n}`), ...keep].join('\n') + '\n';
}

export function readHostResolvConf(): string {
  try {
    return readFileSync('/etc/resolv.conf', 'utf8');
  } catch (e) {
    if (hasErrno(e, 'ENOENT')) return '';
    throw e;
  }
}

/**
 * Rewrite a file in place (same inode): a file bind-mounted into a container keeps pointing at
 * the inode it was mounted from, so the usual temp+rename would leave every running member with
 * the old peers. New content is written first and the tail cut after, so a reader never sees an
 * empty file.
 */
export function writeInPlace(path: string, content: string): void {
  mkdirSync(dirname(path), { recursive: true });
  const w = openSync(path, constants.O_RDWR | constants.O_CREAT, 0o644);
  try {
    const buf = Buffer.from(content);
    writeSync(w, buf, 0, buf.length, 0);
    ftruncateSync(w, buf.length);
  } finally {
    closeSync(w);
  }
}
