import { VesselError } from '../util/index.js';
import { interpolate, type Lookup } from './interpolate.js';

/**
 * The `.env` / `env_file` format docker compose reads: `KEY=VALUE` lines, `#` comments, an
 * optional `export ` prefix; a value unquoted (trimmed, ` #…` comment removed), in "…" (with \n \t
 * \" \\ escapes) or in '…' (literal). Unquoted and "…" values are interpolated from the variables
 * defined above them and `outer`; '…' values are not. A bare `KEY` takes the variable from `outer`
 * (skipped when unset).
 */
export interface DotenvEntry {
  key: string;
  value: string;
  line: number;
}

export function parseDotenv(text: string, file: string, outer: Lookup, unset: Set<string>): DotenvEntry[] {
  const out: DotenvEntry[] = [];
  const seen = new Map<string, string>();
  const lookup: Lookup = (n) => seen.get(n) ?? outer(n);
  text.replace(/^\uFEFF/, '').split(/\r?\n/).forEach((raw, i) => {
    const line = i + 1;
    const t = raw.trim();
    if (t === '' || t.startsWith('#')) return;
    const body = t.startsWith('export ') ? t.slice(7).trimStart() : t;
    const eq = body.indexOf('=');
    const key = (eq < 0 ? body : body.slice(0, eq)).trim();
    if (!/^[^\s=#]+$/.test(key)) throw new VesselError('E_SPEC', `${file}:${line}: ${JSON.stringify(t)} is not KEY=VALUE`);
    if (eq < 0) {
      const v = outer(key);
      if (v !== undefined) out.push({ key, value: v, line });
      return;
    }
    const rawValue = body.slice(eq + 1).trimStart();
    let value: string;
    if (rawValue.startsWith("'")) {
      const end = rawValue.indexOf("'", 1);
      if (end < 0) throw new VesselError('E_SPEC', `${file}:${line}: ${key}: unterminated ' quote`);
      value = rawValue.slice(1, end);
    } else if (rawValue.startsWith('"')) {
      let v = '';
      let j = 1;
      for (; j < rawValue.length && rawValue[j] !== '"'; j++) {
        if (rawValue[j] === '\\' && j + 1 < rawValue.length) {
          const n = rawValue[++j]!;
          v += n === 'n' ? '\n' : n === 't' ? '\t' : n === 'r' ? '\r' : n === '"' || n === '\\' || n === '$' ? (n === '$' ? '$$' : n) : `\\${n}`;
        } else v += rawValue[j];
      }
      if (j >= rawValue.length) throw new VesselError('E_SPEC', `${file}:${line}: ${key}: unterminated " quote`);
      value = interpolateLine(v, lookup, unset, file, line, key);
    } else {
      const hash = rawValue.search(/\s#/);
      value = interpolateLine((hash < 0 ? rawValue : rawValue.slice(0, hash)).trim(), lookup, unset, file, line, key);
    }
    seen.set(key, value);
    out.push({ key, value, line });
  });
  return out;
}

function interpolateLine(v: string, lookup: Lookup, unset: Set<string>, file: string, line: number, key: string): string {
  try {
    return interpolate(v, lookup, unset);
  } catch (e) {
    throw new VesselError('E_SPEC', `${file}:${line}: ${key}: ${(e as Error).message}`);
  }
}
