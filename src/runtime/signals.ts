import { constants } from 'node:os';
import { VesselError } from '../util/index.js';

const byNumber = new Map<number, string>(Object.entries(constants.signals).map(([k, v]) => [v, k]));

export function signalName(n: number): string {
  return byNumber.get(n) ?? `signal ${n}`;
}

/** SIGTERM, TERM, 15 → 15. */
export function signalNumber(sig: string): number {
  if (/^\d+$/.test(sig)) return Number(sig);
  const name = sig.toUpperCase().startsWith('SIG') ? sig.toUpperCase() : `SIG${sig.toUpperCase()}`;
  const n = (constants.signals as Record<string, number>)[name];
  if (n === undefined) throw new VesselError('E_USAGE', `unknown signal "${sig}"`);
  return n;
}
