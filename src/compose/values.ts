import { VesselError, errorMessage } from '../util/index.js';
import { parseDuration, splitCommand } from '../spec/index.js';
import type { Path } from './load.js';

/**
 * Reading compose values: every reader gets the value and its path, and a wrong type is one line
 * naming `FILE:LINE: services.web.key` — the compose file, not the spec it becomes.
 */
export interface Reader {
  where(path: Path): string;
}

export function dotted(path: Path): string {
  return path.map((p, i) => (typeof p === 'number' ? `[${p}]` : i === 0 ? p : `.${p}`)).join('');
}

export function bad(r: Reader, path: Path, reason: string, hint?: string): never {
  throw new VesselError('E_SPEC', `${r.where(path)}: ${dotted(path)}: ${reason}`, hint === undefined ? {} : { hint });
}

export function isMap(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

export function asMap(r: Reader, path: Path, v: unknown): Record<string, unknown> {
  if (v === null || v === undefined) return {};
  if (!isMap(v)) bad(r, path, 'expected a mapping');
  return v;
}

/** A scalar as compose reads it: strings, numbers and booleans become text. */
export function asText(r: Reader, path: Path, v: unknown): string {
  if (typeof v === 'string') return v;
  if (typeof v === 'number' || typeof v === 'boolean') return String(v);
  return bad(r, path, `expected a string, got ${v === null ? 'nothing' : Array.isArray(v) ? 'a list' : typeof v}`);
}

export function asList(r: Reader, path: Path, v: unknown): unknown[] {
  if (v === null || v === undefined) return [];
  if (!Array.isArray(v)) bad(r, path, 'expected a list');
  return v;
}

/** A string or a list of strings (tmpfs, env_file, dns …). */
export function asTextList(r: Reader, path: Path, v: unknown): string[] {
  if (typeof v === 'string') return [v];
  return asList(r, path, v).map((x, i) => asText(r, [...path, i], x));
}

export function asBool(r: Reader, path: Path, v: unknown): boolean {
  if (typeof v === 'boolean') return v;
  if (v === 'true' || v === 'false') return v === 'true';
  return bad(r, path, 'expected true or false');
}

/**
 * command / entrypoint: a list is the argv as is (docker's exec form); a string is split into
 * words the way compose splits it (shell quoting, no shell at run time).
 */
export function asArgv(r: Reader, path: Path, v: unknown): string[] {
  if (Array.isArray(v)) return v.map((x, i) => asText(r, [...path, i], x));
  const text = asText(r, path, v);
  try {
    return splitCommand(text);
  } catch (e) {
    return bad(r, path, (e as Error).message);
  }
}

/** Go's time.ParseDuration (compose's) units below a millisecond: the compose spec lists `us`. */
const SUB_MS = /(\d+(?:\.\d+)?|\.\d+)(ns|us|µs)/g;

/**
 * A compose duration (`1m30s`, `10s`, `500ms`, `2h`, or a number of seconds) read by the spec's own
 * parser (parseDuration), in milliseconds as the spec counts them. Sub-millisecond terms, which
 * only Go writes, are added up here and the total rounded up to a whole millisecond: `rounded` is
 * true when that changed the value.
 */
export function asDuration(r: Reader, path: Path, v: unknown): { ms: number; rounded: boolean } {
  const given = typeof v === 'number' ? String(v) : asText(r, path, v).trim();
  let subMs = 0;
  const text = given.replace(SUB_MS, (_, n: string, unit: string) => {
    subMs += Number(n) / (unit === 'ns' ? 1e6 : 1e3);
    return '0ms';
  });
  let ms: number;
  try {
    ms = parseDuration(text);
  } catch (e) {
    return bad(r, path, errorMessage(e).split(JSON.stringify(text)).join(JSON.stringify(given)));
  }
  const exact = ms + subMs;
  return { ms: Math.ceil(exact), rounded: Math.ceil(exact) !== exact };
}
