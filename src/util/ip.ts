import { isIP } from 'node:net';

/**
 * A dotted-quad IPv4 address in its one canonical spelling: four decimal parts 0-255 without
 * leading zeros (inet_aton(3) would read `010` as octal 8; a spec must not mean two things).
 */
export function isIPv4(text: string): boolean {
  const parts = text.split('.');
  return parts.length === 4 && parts.every((p) => /^(0|[1-9]\d{0,2})$/.test(p) && Number(p) <= 255);
}

/**
 * An IPv6 address as it may be written (RFC 4291 2.2, any case, `::` once, an IPv4 tail), without
 * brackets, zone or prefix. node:net's check, so vessel and the kernel agree on what parses.
 */
export function isIPv6(text: string): boolean {
  return !text.includes('%') && isIP(text) === 6;
}

/** The one spelling of an IPv6 address (RFC 5952: lower case, longest zero run as `::`). */
export function canonicalIPv6(text: string): string {
  // The WHATWG URL parser prints hosts in RFC 5952 form.
  return new URL(`http://[${text}]/`).hostname.slice(1, -1);
}

/** An IPv6 address as a 128-bit number (what subnet arithmetic and containment need). */
export function ipv6ToBigInt(text: string): bigint {
  const canon = canonicalIPv6(text);
  // canonicalIPv6 writes an IPv4 tail as two hex groups, so only hex groups and one `::` remain.
  const [head = '', tail] = canon.split('::');
  const groups = (s: string) => (s === '' ? [] : s.split(':'));
  const h = groups(head);
  const t = tail === undefined ? [] : groups(tail);
  const all = tail === undefined ? h : [...h, ...Array<string>(8 - h.length - t.length).fill('0'), ...t];
  return all.reduce((acc, g) => (acc << 16n) | BigInt(parseInt(g, 16)), 0n);
}

export function bigIntToIPv6(n: bigint): string {
  const groups: string[] = [];
  for (let i = 7; i >= 0; i--) groups.push(((n >> BigInt(i * 16)) & 0xffffn).toString(16));
  return canonicalIPv6(groups.join(':'));
}

/** Whether an IPv6 address lies in ADDR/PREFIX (both canonical or not). */
export function ipv6InSubnet(address: string, subnet: string): boolean {
  const [base = '', len = '128'] = subnet.split('/');
  if (!isIPv6(address) || !isIPv6(base)) return false;
  const bits = BigInt(128 - Number(len));
  return ipv6ToBigInt(address) >> bits === ipv6ToBigInt(base) >> bits;
}
