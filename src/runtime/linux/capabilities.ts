import { VesselError } from '../../util/index.js';

/** Linux capability numbers (linux/capability.h). */
export const CAPABILITIES: Record<string, number> = {
  CHOWN: 0, DAC_OVERRIDE: 1, DAC_READ_SEARCH: 2, FOWNER: 3, FSETID: 4, KILL: 5, SETGID: 6, SETUID: 7,
  SETPCAP: 8, LINUX_IMMUTABLE: 9, NET_BIND_SERVICE: 10, NET_BROADCAST: 11, NET_ADMIN: 12, NET_RAW: 13,
  IPC_LOCK: 14, IPC_OWNER: 15, SYS_MODULE: 16, SYS_RAWIO: 17, SYS_CHROOT: 18, SYS_PTRACE: 19,
  SYS_PACCT: 20, SYS_ADMIN: 21, SYS_BOOT: 22, SYS_NICE: 23, SYS_RESOURCE: 24, SYS_TIME: 25,
  SYS_TTY_CONFIG: 26, MKNOD: 27, LEASE: 28, AUDIT_WRITE: 29, AUDIT_CONTROL: 30, SETFCAP: 31,
  MAC_OVERRIDE: 32, MAC_ADMIN: 33, SYSLOG: 34, WAKE_ALARM: 35, BLOCK_SUSPEND: 36, AUDIT_READ: 37,
  PERFMON: 38, BPF: 39, CHECKPOINT_RESTORE: 40,
};

/**
 * What an application container keeps by default: the set docker and podman grant, minus
 * NET_RAW (ping sockets work without it since Linux 3.x; raw packet crafting is not an app's job).
 */
export const DEFAULT_CAPABILITIES = [
  'CHOWN', 'DAC_OVERRIDE', 'FSETID', 'FOWNER', 'MKNOD', 'SETGID', 'SETUID', 'SETFCAP', 'SETPCAP',
  'NET_BIND_SERVICE', 'SYS_CHROOT', 'KILL', 'AUDIT_WRITE',
];

function norm(name: string): string {
  const n = name.toUpperCase().replace(/^CAP_/, '');
  if (n !== 'ALL' && CAPABILITIES[n] === undefined) throw new VesselError('E_SPEC', `unknown capability "${name}"`);
  return n;
}

/** The final capability numbers: defaults + add − drop ("ALL" allowed in both lists). */
export function effectiveCapabilities(add: string[], drop: string[]): number[] {
  let set = new Set(DEFAULT_CAPABILITIES);
  const adds = add.map(norm);
  const drops = drop.map(norm);
  if (drops.includes('ALL')) set = new Set();
  if (adds.includes('ALL')) set = new Set(Object.keys(CAPABILITIES));
  for (const a of adds) if (a !== 'ALL') set.add(a);
  for (const d of drops) if (d !== 'ALL') set.delete(d);
  return [...set].map((n) => CAPABILITIES[n]!).sort((a, b) => a - b);
}
