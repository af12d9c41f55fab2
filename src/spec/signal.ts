import { invalid, show } from './fail.js';
import { didYouMean } from './suggest.js';

/**
 * Signal names common to FreeBSD and Linux. Numbers are accepted only where both systems agree
 * (USR1 is 10 on Linux but 30 on FreeBSD, so `10` would mean different things on each).
 */
export const SIGNALS = [
  'HUP', 'INT', 'QUIT', 'ILL', 'TRAP', 'ABRT', 'BUS', 'FPE', 'KILL', 'USR1', 'SEGV', 'USR2', 'PIPE',
  'ALRM', 'TERM', 'CHLD', 'CONT', 'STOP', 'TSTP', 'TTIN', 'TTOU', 'URG', 'XCPU', 'XFSZ', 'VTALRM',
  'PROF', 'WINCH', 'IO', 'SYS',
] as const;

const PORTABLE_NUMBERS: Record<number, string> = { 1: 'HUP', 2: 'INT', 3: 'QUIT', 6: 'ABRT', 9: 'KILL', 14: 'ALRM', 15: 'TERM' };

/** `TERM`, `sigterm`, `SIGTERM`, `15` → `SIGTERM`. */
export function normalizeSignal(text: string | number): string {
  const t = String(text).trim().toUpperCase();
  if (/^\d+$/.test(t)) {
    const name = PORTABLE_NUMBERS[Number(t)];
    if (name === undefined) invalid(`${show(String(text))}: use a signal name (numbers other than 1 2 3 6 9 14 15 differ between FreeBSD and Linux)`);
    return `SIG${name}`;
  }
  const bare = t.startsWith('SIG') ? t.slice(3) : t;
  if (!(SIGNALS as readonly string[]).includes(bare)) {
    invalid(`${show(String(text))} is not a signal${didYouMean(bare, SIGNALS, (s) => `SIG${s}`)}`);
  }
  return `SIG${bare}`;
}
