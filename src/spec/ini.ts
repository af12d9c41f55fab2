import { VesselError } from '../util/index.js';

/**
 * The INI reader. Not the `ini` package: specs need line numbers in every error, `key[]`
 * appends, inline comments (`value   ; why`) as in DESIGN.md §4, and quoting that a command
 * like `sh -c 'echo a ; b'` survives — none of which it offers.
 *
 * - `[section]` lines, `key = value` lines, `;` or `#` comment lines, blank lines.
 * - An inline comment starts at `;` or `#` preceded by whitespace, outside quotes.
 * - A value wholly in "…" (escapes \" \\ \n \t \r) or '…' (literal) is unquoted; quotes inside
 *   a value are kept as written (`A="b c"` stays that). Shell-form keys (commands) keep their
 *   quotes for the shell-words splitter, which reads them.
 */
export interface IniEntry {
  key: string;
  /** Written as `key[] = …`. */
  append: boolean;
  value: string;
  line: number;
}

export interface IniSection {
  name: string;
  line: number;
  entries: IniEntry[];
}

export interface ReadIniOptions {
  file: string;
  /** Keys whose value is shell words or JSON: quotes are left for the command splitter. */
  isShellKey?: (section: string, key: string) => boolean;
}

function fail(file: string, line: number, reason: string): never {
  throw new VesselError('E_SPEC', `${file}:${line}: ${reason}`);
}

const KEY_RE = /^([A-Za-z0-9_][A-Za-z0-9_.-]*)(\[\])?$/;

export function readIni(text: string, opts: ReadIniOptions): IniSection[] {
  const sections: IniSection[] = [];
  let current: IniSection | undefined;
  const lines = text.replace(/^\uFEFF/, '').split(/\r?\n/);
  lines.forEach((raw, i) => {
    const line = i + 1;
    const t = raw.trim();
    if (t === '' || t.startsWith(';') || t.startsWith('#')) return;
    if (t.startsWith('[')) {
      const m = /^\[\s*([^\]]*?)\s*\](.*)$/.exec(t);
      if (!m || !isBlankOrComment(m[2]!)) fail(opts.file, line, `${JSON.stringify(t)} is not a [section] line`);
      if (m[1] === '') fail(opts.file, line, 'empty section name []');
      current = { name: m[1]!, line, entries: [] };
      sections.push(current);
      return;
    }
    const eq = raw.indexOf('=');
    if (eq < 0) fail(opts.file, line, `${JSON.stringify(t)} is not a key = value line`);
    const keyText = raw.slice(0, eq).trim();
    const km = KEY_RE.exec(keyText);
    if (!km) fail(opts.file, line, `${JSON.stringify(keyText)} is not a key name`);
    if (current === undefined) fail(opts.file, line, `${km[1]}: key outside a section (start with [container])`);
    const key = km[1]!;
    const shell = opts.isShellKey?.(current.name, key) ?? false;
    let value: string;
    try {
      value = shell ? stripShellComment(raw.slice(eq + 1)) : readValue(raw.slice(eq + 1));
    } catch (e) {
      fail(opts.file, line, `[${current.name}] ${key}: ${(e as Error).message}`);
    }
    current.entries.push({ key, append: km[2] !== undefined, value, line });
  });
  return sections;
}

function isBlankOrComment(rest: string): boolean {
  const t = rest.trim();
  return t === '' || t.startsWith(';') || t.startsWith('#');
}

function isCommentStart(s: string, i: number): boolean {
  return (s[i] === ';' || s[i] === '#') && (i === 0 || /\s/.test(s[i - 1]!));
}

/** A plain or wholly quoted value, inline comment removed. */
function readValue(rest: string): string {
  const s = rest.trimStart();
  const q = s[0];
  if (q === '"' || q === "'") {
    let out = '';
    let i = 1;
    for (; i < s.length; i++) {
      const c = s[i]!;
      if (c === q) break;
      if (q === '"' && c === '\\' && i + 1 < s.length) {
        const n = s[++i]!;
        out += n === 'n' ? '\n' : n === 't' ? '\t' : n === 'r' ? '\r' : n === '"' || n === '\\' ? n : `\\${n}`;
      } else out += c;
    }
    if (i >= s.length) throw new Error(`unterminated ${q} quote`);
    if (!isBlankOrComment(s.slice(i + 1))) throw new Error(`text after the closing ${q} quote (quote the whole value)`);
    return out;
  }
  for (let i = 0; i < s.length; i++) if (isCommentStart(s, i)) return s.slice(0, i).trim();
  return s.trim();
}

/** Comment removal that respects shell quoting, so `sh -c 'a ; b'` keeps its `;`. */
function stripShellComment(rest: string): string {
  const s = rest.trimStart();
  let quote: string | null = null;
  for (let i = 0; i < s.length; i++) {
    const c = s[i]!;
    if (quote === "'") {
      if (c === "'") quote = null;
    } else if (quote === '"') {
      if (c === '\\') i++;
      else if (c === '"') quote = null;
    } else if (c === '\\') i++;
    else if (c === '"' || c === "'") quote = c;
    else if (isCommentStart(s, i)) return s.slice(0, i).trim();
  }
  return s.trim();
}

/** A scalar written so that readValue gives it back unchanged (quoted only when it must be). */
export function quoteValue(v: string): string {
  const plain =
    v !== '' && v === v.trim() && !/^["']/.test(v) && !/\s[;#]/.test(v) && !/^[;#]/.test(v) &&
    !/[\u0000-\u001f\u007f]/.test(v);
  if (plain) return v;
  return `"${v.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n').replace(/\t/g, '\\t').replace(/\r/g, '\\r')}"`;
}
