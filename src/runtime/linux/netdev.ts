import { readFileSync, readlinkSync } from 'node:fs';

/**
 * Network counters of a container: its network namespace's interfaces, as /proc/PID/net/dev
 * shows them for any process inside it (proc(5)). Loopback is left out (traffic that never
 * leaves the container), as docker's NET I/O leaves it out.
 */

export interface NetIo {
  rxBytes: number;
  txBytes: number;
}

/** proc(5) /proc/net/dev: two header lines, then `IFACE: rx-bytes rx-packets … (8 fields) tx-bytes …`. */
export function parseNetDev(text: string): NetIo {
  const io = { rxBytes: 0, txBytes: 0 };
  for (const line of text.split('\n').slice(2)) {
    const colon = line.indexOf(':');
    if (colon < 0) continue;
    const name = line.slice(0, colon).trim();
    const f = line.slice(colon + 1).trim().split(/\s+/).map(Number);
    if (name === 'lo' || f.length < 9 || !f.every(Number.isFinite)) continue;
    io.rxBytes += f[0]!;
    io.txBytes += f[8]!;
  }
  return io;
}

/**
 * The counters of `pid`'s network namespace; undefined when it is the host's (--network host:
 * the host's traffic is not the container's) or the process is gone.
 */
export function netnsIo(pid: number): NetIo | undefined {
  try {
    if (readlinkSync(`/proc/${pid}/ns/net`) === readlinkSync('/proc/self/ns/net')) return undefined;
    return parseNetDev(readFileSync(`/proc/${pid}/net/dev`, 'utf8'));
  } catch {
    return undefined;
  }
}
