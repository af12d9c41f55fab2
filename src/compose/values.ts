import { VesselError } from '../util/index.js';
import { splitCommand } from '../spec/index.js';
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

const UNIT_NS: Record<string, number> = { ns: 1, us: 1e3, 'µs': 1e3, ms: 1e6, s: 1e9, m: 60e9, h: 3600e9 };

/**
 * A compose duration (`1m30s`, `10s`, `500ms`, `2h`, or a number of seconds) in whole seconds,
 * rounded up — vessel's timers count seconds. `rounded` is true when that changed the value.
 */
export function asSeconds(r: Reader, path: Path, v: unknown): { seconds: number; rounded: boolean } {
  if (typeof v === 'number' && Number.isFinite(v) && v >= 0) return { seconds: Math.ceil(v), rounded: !Number.isInteger(v) };
  const t = asText(r, path, v).trim();
  const re = /(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)/gy;
  let ns = 0;
  let consumed = 0;
  for (let m = re.exec(t); m !== null; m = re.exec(t)) {
    ns += Number(m[1]) * UNIT_NS[m[2]!]!;
    consumed = re.lastIndex;
  }
  if (t === '' || consumed !== t.length) bad(r, path, `${JSON.stringify(t)} is not a duration (use 10s, 1m30s, 500ms)`);
  const seconds = Math.ceil(ns / 1e9);
  return { seconds, rounded: seconds * 1e9 !== ns };
}
