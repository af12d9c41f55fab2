import { VesselError, isIPv4 } from '../util/index.js';

/**
 * IPv4 arithmetic for address management. Addresses are kept as unsigned 32-bit numbers inside
 * this file and as dotted strings everywhere else (records, RuntimeNetwork, rules), so the state
 * files stay readable.
 */
export interface Cidr {
  /** Network address (host bits cleared). */
  base: number;
  prefix: number;
}



export function ipToInt(text: string): number {
  if (!isIPv4(text)) throw new VesselError('E_NETWORK', `${text}: not an IPv4 address`);
  return text.split('.').reduce((acc, p) => acc * 256 + Number(p), 0);
}

export function intToIp(n: number): string {
  return [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join('.');
}

function maskOf(prefix: number): number {
  return prefix === 0 ? 0 : (0xffffffff << (32 - prefix)) >>> 0;
}

/** Parse A.B.C.D/N; `what` names the flag or key in the error. Host bits must be zero. */
export function parseCidr(text: string, what = 'subnet'): Cidr {
  const m = /^([0-9.]+)\/(\d{1,2})$/.exec(text);
  if (!m || !isIPv4(m[1]!) || Number(m[2]) > 32) {
    throw new VesselError('E_USAGE', `${what} ${JSON.stringify(text)}: expected an IPv4 CIDR such as 10.77.5.0/24`);
  }
  const prefix = Number(m[2]);
  const addr = ipToInt(m[1]!);
  const base = (addr & maskOf(prefix)) >>> 0;
  if (base !== addr) {
    throw new VesselError('E_USAGE', `${what} ${text}: host bits are set`, { hint: `did you mean ${intToIp(base)}/${prefix}?` });
  }
  return { base, prefix };
}

export function formatCidr(c: Cidr): string {
  return `${intToIp(c.base)}/${c.prefix}`;
}

export function size(c: Cidr): number {
  return 2 ** (32 - c.prefix);
}

export function overlaps(a: Cidr, b: Cidr): boolean {
  const aEnd = a.base + size(a) - 1;
  const bEnd = b.base + size(b) - 1;
  return a.base <= bEnd && b.base <= aEnd;
}


/** The pool cut into subnets of `prefix` bits, lowest first. */
export function* subnetsOf(pool: Cidr, prefix: number): Generator<Cidr> {
  if (prefix < pool.prefix || prefix > 30) {
    throw new VesselError('E_CONFIG', `network pool ${formatCidr(pool)}: cannot cut into /${prefix} subnets`, {
      hint: 'VESSEL_NETWORK_PREFIX must lie between the pool prefix and 30',
    });
  }
  const step = 2 ** (32 - prefix);
  for (let b = pool.base; b < pool.base + size(pool); b += step) yield { base: b, prefix };
}
