/**
 * A dotted-quad IPv4 address in its one canonical spelling: four decimal parts 0-255 without
 * leading zeros (inet_aton(3) would read `010` as octal 8; a spec must not mean two things).
 */
export function isIPv4(text: string): boolean {
  const parts = text.split('.');
  return parts.length === 4 && parts.every((p) => /^(0|[1-9]\d{0,2})$/.test(p) && Number(p) <= 255);
}
