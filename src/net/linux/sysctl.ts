import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { VesselError, errorMessage } from '../../util/index.js';

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
