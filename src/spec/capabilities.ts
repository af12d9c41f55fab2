import { invalid, show } from './fail.js';
import { didYouMean } from './suggest.js';

/** Linux capabilities (capabilities(7), up to CAP_CHECKPOINT_RESTORE = 40), without CAP_. */
export const CAPABILITIES = [
  'CHOWN', 'DAC_OVERRIDE', 'DAC_READ_SEARCH', 'FOWNER', 'FSETID', 'KILL', 'SETGID', 'SETUID',
  'SETPCAP', 'LINUX_IMMUTABLE', 'NET_BIND_SERVICE', 'NET_BROADCAST', 'NET_ADMIN', 'NET_RAW',
  'IPC_LOCK', 'IPC_OWNER', 'SYS_MODULE', 'SYS_RAWIO', 'SYS_CHROOT', 'SYS_PTRACE', 'SYS_PACCT',
  'SYS_ADMIN', 'SYS_BOOT', 'SYS_NICE', 'SYS_RESOURCE', 'SYS_TIME', 'SYS_TTY_CONFIG', 'MKNOD',
  'LEASE', 'AUDIT_WRITE', 'AUDIT_CONTROL', 'SETFCAP', 'MAC_OVERRIDE', 'MAC_ADMIN', 'SYSLOG',
  'WAKE_ALARM', 'BLOCK_SUSPEND', 'AUDIT_READ', 'PERFMON', 'BPF', 'CHECKPOINT_RESTORE',
] as const;

/** `cap_net_admin`, `CAP_NET_ADMIN`, `NET_ADMIN` → `NET_ADMIN`; `ALL` as in docker's --cap-drop ALL. */
export function normalizeCapability(text: string): string {
  const t = text.trim().toUpperCase();
  const bare = t.startsWith('CAP_') ? t.slice(4) : t;
  if (bare === 'ALL') return bare;
  if (!(CAPABILITIES as readonly string[]).includes(bare)) {
    invalid(`${show(text)} is not a Linux capability${didYouMean(bare, CAPABILITIES)}`);
  }
  return bare;
}
