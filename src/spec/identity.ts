import { posix } from 'node:path';
import { invalid, show } from './fail.js';

/** RFC 1123 host name: dot-separated labels of letters, digits and inner hyphens, ≤ 253 chars. */
export function parseHostname(text: string): string {
  const t = text.trim();
  const label = /^[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?$/;
  if (t.length > 253 || !t.split('.').every((l) => label.test(l))) {
    invalid(`${show(text)} is not a host name (letters, digits, '-' and '.', labels up to 63 chars)`);
  }
  return t;
}

/** `name`, `uid`, `uid:gid` or `name:group`; names are looked up in the image's /etc/passwd at run time. */
export function parseUser(text: string): string {
  const t = text.trim();
  const part = /^([A-Za-z_][A-Za-z0-9_.-]{0,31}\$?|\d{1,10})$/;
  const [u, g, ...rest] = t.split(':');
  const idOk = (s: string) => !/^\d+$/.test(s) || Number(s) <= 4294967294;
  if (rest.length > 0 || !part.test(u ?? '') || (g !== undefined && !part.test(g)) || !idOk(u ?? '') || (g !== undefined && !idOk(g))) {
    invalid(`${show(text)} is not a user (use NAME, UID or UID:GID)`);
  }
  return t;
}

export function parseWorkdir(text: string): string {
  const t = text.trim();
  if (!t.startsWith('/')) invalid(`${show(text)} is not an absolute path`);
  if (t.includes('\0')) invalid(`${show(text)} contains a NUL byte`);
  const n = posix.normalize(t);
  return n.length > 1 && n.endsWith('/') ? n.slice(0, -1) : n;
}
