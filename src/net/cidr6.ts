import { bigIntToIPv6, type Cidr6 } from '../util/index.js';

/**
 * IPv6 arithmetic for address management, the counterpart of cidr.ts. Parsing, masking and
 * spelling of addresses and prefixes are util/ip.ts's (Cidr6, parseCidr6, formatCidr6): what is
 * here is what only address management asks (overlap, the n-th host). Addresses are 128-bit
 * BigInts inside and canonical RFC 5952 strings (fd12:3456:789a:1::5) everywhere else.
 */

/** The last address of the subnet. */
function end6(c: Cidr6): bigint {
  return c.base + (1n << BigInt(hostBits6(c))) - 1n;
}

export function overlaps6(a: Cidr6, b: Cidr6): boolean {
  return a.base <= end6(b) && b.base <= end6(a);
}

/** Host number n of the subnet (1 = the gateway), as an address. */
export function hostAddress6(c: Cidr6, n: number): string {
  return bigIntToIPv6(c.base + BigInt(n));
}

/** log2 of the number of addresses: 128 - prefix. */
export function hostBits6(c: Cidr6): number {
  return 128 - c.prefix;
}
