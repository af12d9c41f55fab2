import { invalid, show } from './fail.js';

/**
 * Sizes, percentages, counts, seconds and booleans as people write them in a spec or a flag.
 * Units are binary (K = 1024) like docker's --memory and rctl(8)'s memoryuse; case is ignored.
 */
const SIZE_UNITS: Record<string, number> = { '': 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3, t: 1024 ** 4 };
const SIZE_RE = /^(\d+(?:\.\d+)?)([kmgt]?)(i?b)?$/i;

/** `64M`, `1G`, `512k`, `16MiB`, `1.5G`, `4096` → bytes (an integer ≥ 0). */
export function parseSize(text: string): number {
  const m = SIZE_RE.exec(text.trim());
  const unit = m?.[2]?.toLowerCase() ?? '';
  if (!m || (unit === '' && m[3] !== undefined && m[3].toLowerCase() !== 'b')) {
    invalid(`${show(text)} is not a size (use 64M, 1G, or bytes)`);
  }
  const bytes = Math.floor(Number(m[1]) * SIZE_UNITS[unit]!);
  if (!Number.isSafeInteger(bytes)) invalid(`${show(text)} is too large`);
  return bytes;
}

/** A size that must be > 0 (a zero limit is never what anyone means; tmpfs size=0 is unlimited). */
export function parsePositiveSize(text: string): number {
  const n = parseSize(text);
  if (n <= 0) invalid(`${show(text)} must be more than 0 bytes`);
  return n;
}

/** Bytes → the largest unit that divides exactly: 67108864 → `64M`, 1000 → `1000`. */
export function formatSize(bytes: number): string {
  for (const [u, n] of [['T', 1024 ** 4], ['G', 1024 ** 3], ['M', 1024 ** 2], ['K', 1024]] as const) {
    if (bytes >= n && bytes % n === 0) return `${bytes / n}${u}`;
  }
  return String(bytes);
}

/** Three decimals are plenty for a CPU share and keep 0.3 cores at exactly 30 (not 30.000000000000004). */
function roundPercent(n: number): number {
  return Math.round(n * 1000) / 1000;
}

const MAX_CPU_PERCENT = 100 * 4096;

/** `50%` → 50 (percent of one core). */
export function parsePercent(text: string): number {
  const m = /^(\d+(?:\.\d+)?)\s*%$/.exec(text.trim());
  if (!m) invalid(`${show(text)} is not a percentage (use 50%)`);
  return checkCpu(text, roundPercent(Number(m[1])));
}

/** CPU as docker's --cpus or rctl's pcpu: `50%` → 50, `0.5` (cores) → 50, `2` → 200. */
export function parseCpus(text: string | number): number {
  const t = String(text).trim();
  if (t.endsWith('%')) return parsePercent(t);
  if (!/^\d+(?:\.\d+)?$|^\.\d+$/.test(t)) invalid(`${show(t)} is not a CPU amount (use 50% or 0.5 cores)`);
  return checkCpu(t, roundPercent(Number(t) * 100));
}

function checkCpu(text: string, percent: number): number {
  if (!(percent > 0)) invalid(`${show(text)} must be more than 0`);
  if (percent > MAX_CPU_PERCENT) invalid(`${show(text)} is more than ${MAX_CPU_PERCENT / 100} cores`);
  return percent;
}

/** An integer ≥ min (and ≤ max when given). */
export function parseInteger(text: string | number, min: number, max?: number): number {
  const t = String(text).trim();
  if (!/^-?\d+$/.test(t)) invalid(`${show(t)} is not a whole number`);
  const n = Number(t);
  if (!Number.isSafeInteger(n)) invalid(`${show(t)} is too large`);
  if (n < min) invalid(`${show(t)} must be at least ${min}`);
  if (max !== undefined && n > max) invalid(`${show(t)} must be at most ${max}`);
  return n;
}

/** Whole seconds, `10` or `10s`. */
export function parseSeconds(text: string | number, min = 0): number {
  const t = String(text).trim();
  const m = /^(\d+)\s*s?$/i.exec(t);
  if (!m) invalid(`${show(t)} is not a number of seconds (use 10 or 10s)`);
  return parseInteger(m[1]!, min);
}

const DURATION_UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/**
 * A duration as docker's --health-interval takes it (Go's time.ParseDuration: `30s`, `1m30s`,
 * `500ms`, `1.5h`), or a bare number of seconds (`30`, as the spec's other times are written),
 * in whole milliseconds ≥ minMs.
 */
export function parseDuration(text: string | number, minMs = 0): number {
  const t = String(text).trim();
  let ms: number;
  if (/^\d+(?:\.\d+)?$/.test(t)) ms = Number(t) * 1000;
  else {
    const parts = [...t.matchAll(/(\d+(?:\.\d+)?|\.\d+)(ms|h|m|s)/gy)];
    if (t === '' || parts.map((p) => p[0]).join('') !== t) invalid(`${show(t)} is not a duration (use 30s, 1m30s, 500ms, or seconds)`);
    ms = parts.reduce((sum, p) => sum + Number(p[1]) * DURATION_UNITS[p[2]!]!, 0);
  }
  ms = Math.round(ms);
  if (!Number.isSafeInteger(ms)) invalid(`${show(t)} is too long`);
  if (ms < minMs) invalid(`${show(t)} must be at least ${formatDuration(minMs)}`);
  return ms;
}

/** Milliseconds → the shortest text parseDuration reads back: 90000 → `1m30s`, 1500 → `1s500ms`, 0 → `0s`. */
export function formatDuration(ms: number): string {
  if (ms === 0) return '0s';
  let rest = ms;
  let out = '';
  for (const [u, n] of [['h', 3_600_000], ['m', 60_000], ['s', 1000], ['ms', 1]] as const) {
    if (rest >= n) {
      out += `${Math.floor(rest / n)}${u}`;
      rest %= n;
    }
  }
  return out;
}

const TRUE = new Set(['true', 'yes', 'on', '1']);
const FALSE = new Set(['false', 'no', 'off', '0']);

export function parseBool(text: string | boolean): boolean {
  if (typeof text === 'boolean') return text;
  const t = text.trim().toLowerCase();
  if (TRUE.has(t)) return true;
  if (FALSE.has(t)) return false;
  return invalid(`${show(text)} is not a boolean (use true or false)`);
}
