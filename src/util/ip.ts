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
