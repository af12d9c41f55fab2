import { VesselError, bigIntToIPv6, ipv6ToBigInt, isIPv6 } from '../util/index.js';

/**
 * IPv6 arithmetic for address management, the counterpart of cidr.ts: addresses are 128-bit
 * BigInts inside this file and canonical RFC 5952 strings (fd12:3456:789a:1::5) everywhere else.
 */
export interface Cidr6 {
  /** Network address (host bits cleared). */
  base: bigint;
  prefix: number;
}

const ALL = (1n << 128n) - 1n;

export function ip6ToBigInt(text: string): bigint {
  if (!isIPv6(text)) throw new VesselError('E_NETWORK', `${text}: not an IPv6 address`);
  return ipv6ToBigInt(text);
}

export const bigIntToIp6 = bigIntToIPv6;

function maskOf(prefix: number): bigint {
  return prefix === 0 ? 0n : (ALL << BigInt(128 - prefix)) & ALL;
}

/** Parse ADDR/N; `what` names the flag or key in the error. Host bits must be zero. */
export function parseCidr6(text: string, what = 'subnet'): Cidr6 {
  const m = /^([0-9A-Fa-f:.]+)\/(\d{1,3})$/.exec(text);
  if (!m || !isIPv6(m[1]!) || Number(m[2]) > 128) {
    throw new VesselError('E_USAGE', `${what} ${JSON.stringify(text)}: expected an IPv6 CIDR such as fd00:1:2:3::/64`);
  }
  const prefix = Number(m[2]);
  const addr = ip6ToBigInt(m[1]!);
  const base = addr & maskOf(prefix);
  if (base !== addr) {
    throw new VesselError('E_USAGE', `${what} ${text}: host bits are set`, { hint: `did you mean ${bigIntToIp6(base)}/${prefix}?` });
  }
  return { base, prefix };
}

export function formatCidr6(c: Cidr6): string {
  return `${bigIntToIp6(c.base)}/${c.prefix}`;
}

export function overlaps6(a: Cidr6, b: Cidr6): boolean {
  const aEnd = a.base | (~maskOf(a.prefix) & ALL);
  const bEnd = b.base | (~maskOf(b.prefix) & ALL);
  return a.base <= bEnd && b.base <= aEnd;
}

/** Host number n of the subnet (1 = the gateway), as an address. */
export function hostAddress6(c: Cidr6, n: number): string {
  return bigIntToIp6(c.base + BigInt(n));
}

/** The host number of an address inside the subnet. */
export function hostNumber6(c: Cidr6, address: string): number {
  return Number(ip6ToBigInt(address) - c.base);
}

/** log2 of the number of addresses: 128 - prefix. */
export function hostBits6(c: Cidr6): number {
  return 128 - c.prefix;
}
