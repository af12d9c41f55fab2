import { VesselError } from './errors.js';

/**
 * IP address text, parsed by hand rather than with node:net's isIP: util/ is on the start path of
 * every command (`vessel --version`, `vessel ps`), and loading node:net there costs every one of
 * them for the few that publish ports.
 */

/**
 * A dotted-quad IPv4 address in its one canonical spelling: four decimal parts 0-255 without
 * leading zeros (inet_aton(3) would read `010` as octal 8; a spec must not mean two things).
 */
export function isIPv4(text: string): boolean {
  const parts = text.split('.');
  return parts.length === 4 && parts.every((p) => /^(0|[1-9]\d{0,2})$/.test(p) && Number(p) <= 255);
}

/** The 16-bit words of one side of `::`; an IPv4 tail (RFC 4291 2.2, form 3) only as the address's last part. */
function ipv6Words(part: string, holdsEnd: boolean): number[] | undefined {
  if (part === '') return [];
  const groups = part.split(':');
  const out: number[] = [];
  for (const [i, g] of groups.entries()) {
    if (holdsEnd && i === groups.length - 1 && isIPv4(g)) {
      const [a = 0, b = 0, c = 0, d = 0] = g.split('.').map(Number);
      out.push((a << 8) | b, (c << 8) | d);
    } else if (/^[0-9a-fA-F]{1,4}$/.test(g)) {
      out.push(parseInt(g, 16));
    } else {
      return undefined;
    }
  }
  return out;
}

/**
 * RFC 4291 2.2 text (any case, `::` once for one or more zero words, an IPv4 tail) as a 128-bit
 * number; undefined for anything else, brackets, zones (`%eth0`) and prefixes included. Accepts
 * exactly what node:net's isIP accepts as IPv6 without a zone (test/unit/net-ip.test.ts compares).
 */
function parseIPv6(text: string): bigint | undefined {
  const halves = text.split('::');
  if (halves.length > 2) return undefined;
  const head = ipv6Words(halves[0]!, halves.length === 1);
  const tail = halves.length === 2 ? ipv6Words(halves[1]!, true) : [];
  if (head === undefined || tail === undefined) return undefined;
  const n = head.length + tail.length;
  if (halves.length === 1 ? n !== 8 : n > 7) return undefined;
  return [...head, ...Array<number>(8 - n).fill(0), ...tail].reduce((acc, w) => (acc << 16n) | BigInt(w), 0n);
}

/** An IPv6 address as it may be written (RFC 4291 2.2), without brackets, zone or prefix. */
export function isIPv6(text: string): boolean {
  return parseIPv6(text) !== undefined;
}

/** An IPv6 address as a 128-bit number (what subnet arithmetic and containment need). */
export function ipv6ToBigInt(text: string): bigint {
  const n = parseIPv6(text);
  if (n === undefined) throw new VesselError('E_NETWORK', `${JSON.stringify(text)}: not an IPv6 address`);
  return n;
}

/**
 * The one spelling of a 128-bit address, RFC 5952 4: lower-case hex without leading zeros, the
 * longest run of two or more zero words as `::` (the first of equally long ones), no IPv4 tail —
 * what the WHATWG URL serializer and `ip -6` print.
 */
export function bigIntToIPv6(n: bigint): string {
  const words = Array.from({ length: 8 }, (_, i) => Number((n >> BigInt((7 - i) * 16)) & 0xffffn));
  let at = -1;
  let len = 1;
  for (let i = 0; i < 8;) {
    let j = i;
    while (j < 8 && words[j] === 0) j++;
    if (j - i > len) [at, len] = [i, j - i];
    i = Math.max(j, i + 1);
  }
  const hex = (ws: number[]) => ws.map((w) => w.toString(16)).join(':');
  return at < 0 ? hex(words) : `${hex(words.slice(0, at))}::${hex(words.slice(at + len))}`;
}

/** The one spelling of an IPv6 address (RFC 5952). */
export function canonicalIPv6(text: string): string {
  return bigIntToIPv6(ipv6ToBigInt(text));
}

/** An IPv6 prefix: its first address (host bits clear) as a 128-bit number, and its length 0-128. */
export interface Cidr6 {
  base: bigint;
  prefix: number;
}

const ALL6 = (1n << 128n) - 1n;

/** The netmask of a prefix length as a 128-bit number. */
export function ipv6Mask(prefix: number): bigint {
  return prefix === 0 ? 0n : (ALL6 << BigInt(128 - prefix)) & ALL6;
}

/** ADDR/N (N decimal, 0-128), or a bare ADDR as /128 where `bare` allows it: the address as written and N. */
function splitCidr6(text: string, bare: boolean): { address: bigint; prefix: number } | undefined {
  const m = /^([^/]*)(?:\/(\d{1,3}))?$/.exec(text);
  if (!m || (m[2] === undefined && !bare)) return undefined;
  const address = parseIPv6(m[1]!);
  const prefix = m[2] === undefined ? 128 : Number(m[2]);
  return address === undefined || prefix > 128 ? undefined : { address, prefix };
}

/**
 * The network ADDR/N lies in (host bits cleared): a container's address with its prefix, a
 * route's destination (`bare`: routing tables print host routes without /128). undefined when
 * the text is not that; callers say what it should have been.
 */
export function networkOf6(text: string, opts: { bare?: boolean } = {}): Cidr6 | undefined {
  const c = splitCidr6(text, opts.bare === true);
  return c === undefined ? undefined : { base: c.address & ipv6Mask(c.prefix), prefix: c.prefix };
}

/** Parse ADDR/N exactly as a subnet is given: `what` names the flag or key in the error; host bits must be zero. */
export function parseCidr6(text: string, what = 'subnet'): Cidr6 {
  const c = splitCidr6(text, false);
  if (c === undefined) throw new VesselError('E_USAGE', `${what} ${JSON.stringify(text)}: expected an IPv6 CIDR such as fd00:1:2:3::/64`);
  const base = c.address & ipv6Mask(c.prefix);
  if (base !== c.address) {
    throw new VesselError('E_USAGE', `${what} ${text}: host bits are set`, { hint: `did you mean ${formatCidr6({ base, prefix: c.prefix })}?` });
  }
  return { base, prefix: c.prefix };
}

export function formatCidr6(c: Cidr6): string {
  return `${bigIntToIPv6(c.base)}/${c.prefix}`;
}

/** Whether an IPv6 address lies in SUBNET (ADDR/PREFIX, or a bare ADDR: that one address). */
export function ipv6InSubnet(address: string, subnet: string): boolean {
  const net = networkOf6(subnet, { bare: true });
  if (net === undefined) {
    throw new VesselError('E_NETWORK', `IPv6 subnet ${JSON.stringify(subnet)}: expected ADDRESS or ADDRESS/PREFIX with a prefix of 0-128`);
  }
  const addr = parseIPv6(address);
  return addr !== undefined && (addr & ipv6Mask(net.prefix)) === net.base;
}
