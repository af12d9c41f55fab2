import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { VesselError, errorMessage, log } from '../../util/index.js';

/**
 * Kernel switches a bridge network needs, written straight to /proc/sys (a file write, not a
 * process: `sysctl -w` would cost a fork per key on the start path).
 */
export function sysctlPath(key: string[]): string {
  return join('/proc/sys', ...key);
}

export function setSysctl(key: string[], value: string): void {
  const path = sysctlPath(key);
  try {
    if (readFileSync(path, 'utf8').trim() === value) return;
    writeFileSync(path, `${value}\n`);
  } catch (e) {
    throw new VesselError('E_HOST', `${path}: cannot set to ${value} (${errorMessage(e)})`, {
      hint: 'bridge networks need root and a writable /proc/sys',
    });
  }
}

/** Routing between the bridges and the outside (and DNAT to containers) needs forwarding on. */
export function enableForwarding(): void {
  setSysctl(['net', 'ipv4', 'ip_forward'], '1');
}

/** Lets a DNATed 127.0.0.1 packet leave through the bridge instead of being dropped as martian. */
export function enableRouteLocalnet(bridge: string): void {
  setSysctl(['net', 'ipv4', 'conf', bridge, 'route_localnet'], '1');
}

function readSysctl(key: string[]): string | undefined {
  try {
    return readFileSync(sysctlPath(key), 'utf8').trim();
  } catch {
    return undefined;
  }
}

/** IPv6 is compiled in and not switched off (ipv6.disable=1 removes /proc/sys/net/ipv6). */
export function ipv6Available(): boolean {
  return readSysctl(['net', 'ipv6', 'conf', 'all', 'disable_ipv6']) === '0' && readSysctl(['net', 'ipv6', 'conf', 'default', 'disable_ipv6']) === '0';
}

/**
 * br_netfilter passes bridged IPv6 through netfilter (docker and Kubernetes hosts load it).
 * Then a bridge's frames are de-NATed at the bridge, before ip6_rcv_core, which drops any packet
 * with a loopback address that did not arrive on a loopback device (RFC 4291 2.5.3): the answer
 * to a connection redirected from ::1 never arrives (docs/networking.md, "IPv6 loopback"), so
 * the table leaves ::1 alone (nft.ts) and the containers' monitors relay it (relay.ts).
 */
export function bridgeNfCallsIp6tables(): boolean {
  return readSysctl(['net', 'bridge', 'bridge-nf-call-ip6tables']) === '1';
}

let warnedForwarding = false;

/**
 * Per-bridge switches, set on every ensure (idempotent). Every vessel bridge: accept_ra=0, so a
 * container cannot hand the host a default route with a router advertisement. IPv4-only:
 * disable_ipv6=1 (no link-local, nothing to answer). Dual-stack: force_forwarding=1 (Linux 6.17,
 * ip-sysctl.rst), which routes what enters the bridge — containers' traffic out, published ports'
 * answers back — without net.ipv6.conf.all.forwarding=1, which would turn off router
 * advertisements on every interface of the host whose accept_ra is 1.
 */
export function setBridgeIpv6(bridge: string, dualStack: boolean): void {
  if (!existsSync(sysctlPath(['net', 'ipv6', 'conf', bridge]))) return;
  setSysctl(['net', 'ipv6', 'conf', bridge, 'accept_ra'], '0');
  if (!dualStack) {
    setSysctl(['net', 'ipv6', 'conf', bridge, 'disable_ipv6'], '1');
    return;
  }
  setSysctl(['net', 'ipv6', 'conf', bridge, 'disable_ipv6'], '0');
  if (existsSync(sysctlPath(['net', 'ipv6', 'conf', bridge, 'force_forwarding']))) {
    setSysctl(['net', 'ipv6', 'conf', bridge, 'force_forwarding'], '1');
  } else if (readSysctl(['net', 'ipv6', 'conf', 'all', 'forwarding']) !== '1' && !warnedForwarding) {
    warnedForwarding = true;
    log().warn({ bridge }, 'this kernel has no net.ipv6.conf.*.force_forwarding (Linux < 6.17) and IPv6 forwarding is off: containers reach each other and the host over IPv6, but not the outside (see docs/networking.md)');
  }
}
