import { VesselError, errorMessage } from '../util/index.js';
import { parseDuration, parseInteger, suggest } from '../spec/index.js';
import type { ImageHealthcheck } from '../image/index.js';

/**
 * The Vesselfile: Dockerfile syntax, one stage. Parsed into instructions that keep their line
 * number, so every error — here, or when a step fails — points at `Vesselfile:LINE`.
 */
export type Instruction =
  | { kind: 'FROM'; line: number; image: string }
  | { kind: 'RUN'; line: number; argv: string[]; shell: boolean; text: string }
  | { kind: 'COPY' | 'ADD'; line: number; sources: string[]; dest: string; chown?: string }
  | { kind: 'ENV'; line: number; pairs: Array<[string, string]> }
  | { kind: 'ARG'; line: number; name: string; value?: string }
  | { kind: 'WORKDIR'; line: number; path: string }
  | { kind: 'USER'; line: number; user: string }
  | { kind: 'CMD' | 'ENTRYPOINT'; line: number; argv: string[] }
  | { kind: 'EXPOSE'; line: number; ports: string[] }
  | { kind: 'VOLUME'; line: number; paths: string[] }
  | { kind: 'LABEL'; line: number; pairs: Array<[string, string]> }
  | { kind: 'HEALTHCHECK'; line: number; check: ImageHealthcheck };

export type InstructionKind = Instruction['kind'];

const KINDS = ['FROM', 'RUN', 'COPY', 'ADD', 'ENV', 'ARG', 'WORKDIR', 'USER', 'CMD', 'ENTRYPOINT', 'EXPOSE', 'VOLUME', 'LABEL', 'HEALTHCHECK'] as const;
const UNSUPPORTED = new Set(['ONBUILD', 'SHELL', 'STOPSIGNAL', 'MAINTAINER']);

export class VesselfileError extends VesselError {
  constructor(file: string, line: number, reason: string, hint?: string) {
    super('E_USAGE', `${file}:${line}: ${reason}`, hint === undefined ? {} : { hint });
  }
}

/** Split `a "b c" d\ e` into words, honouring quotes and backslashes (ENV/LABEL values, COPY args). */
export function splitWords(text: string): string[] {
  const out: string[] = [];
  let cur = '';
  let quote: '"' | "'" | undefined;
  let has = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (quote) {
      if (c === quote) quote = undefined;
      else if (c === '\\' && quote === '"' && i + 1 < text.length) cur += text[++i];
      else cur += c;
    } else if (c === '"' || c === "'") {
      quote = c;
      has = true;
    } else if (c === '\\' && i + 1 < text.length) {
      cur += text[++i];
      has = true;
    } else if (/\s/.test(c)) {
      if (has || cur) out.push(cur);
      cur = '';
      has = false;
    } else {
      cur += c;
      has = true;
    }
  }
  if (quote) throw new Error(`unterminated ${quote} quote`);
  if (has || cur) out.push(cur);
  return out;
}

/** `["a", "b"]` exec form, or undefined when the text is not a JSON array of strings. */
function execForm(text: string): string[] | undefined {
  const t = text.trim();
  if (!t.startsWith('[')) return undefined;
  try {
    const v = JSON.parse(t) as unknown;
    if (Array.isArray(v) && v.every((x) => typeof x === 'string')) return v as string[];
  } catch {
    /* shell form after all (docker does the same) */
  }
  return undefined;
}

function pairs(file: string, line: number, kind: string, text: string): Array<[string, string]> {
  const words = splitWords(text);
  if (words.length === 0) throw new VesselfileError(file, line, `${kind} needs KEY=VALUE`);
  // Legacy form: `ENV KEY value with spaces`.
  if (!words[0]!.includes('=')) {
    const rest = text.trim().slice(text.trim().indexOf(words[0]!) + words[0]!.length).trim();
    if (kind !== 'ENV' || !rest) throw new VesselfileError(file, line, `${kind} ${words[0]}: expected KEY=VALUE`);
    return [[words[0]!, splitWords(rest).join(' ')]];
  }
  return words.map((w) => {
    const i = w.indexOf('=');
    if (i <= 0) throw new VesselfileError(file, line, `${kind} "${w}": expected KEY=VALUE`);
    return [w.slice(0, i), w.slice(i + 1)];
  });
}

/** Logical lines: comments dropped, `\` continuations joined, each with its first line number. */
function logicalLines(text: string): Array<{ line: number; text: string }> {
  const out: Array<{ line: number; text: string }> = [];
  let acc: { line: number; text: string } | undefined;
  text.split('\n').forEach((raw, i) => {
    const line = raw.replace(/\r$/, '');
    if (/^\s*#/.test(line)) return;
    if (!acc && line.trim() === '') return;
    const cont = /\\\s*$/.test(line);
    const body = cont ? line.replace(/\\\s*$/, '') : line;
    acc = acc ? { line: acc.line, text: `${acc.text} ${body.trim()}` } : { line: i + 1, text: body.trim() };
    if (!cont) {
      out.push(acc);
      acc = undefined;
    }
  });
  if (acc) out.push(acc);
  return out;
}

export function parseVesselfile(text: string, file = 'Vesselfile'): Instruction[] {
  const out: Instruction[] = [];
  for (const { line, text: l } of logicalLines(text)) {
    const m = /^(\S+)\s*(.*)$/.exec(l);
    if (!m) continue;
    const word = m[1]!.toUpperCase();
    const args = m[2]!;
    const fail = (reason: string, hint?: string): never => {
      throw new VesselfileError(file, line, reason, hint);
    };
    if (UNSUPPORTED.has(word)) fail(`${word} is not supported by vessel build`);
    if (!(KINDS as readonly string[]).includes(word)) {
      const near = suggest(word, KINDS);
      fail(`unknown instruction ${m[1]}`, near ? `did you mean ${near}?` : `instructions: ${KINDS.join(' ')}`);
    }
    const kind = word as InstructionKind;
    if (out.length === 0 && kind !== 'FROM' && kind !== 'ARG') fail(`${kind} before FROM`, 'a Vesselfile starts with FROM IMAGE (or FROM scratch)');
    if (!args.trim() && kind !== 'RUN') fail(`${kind} needs an argument`);
    let words: string[];
    try {
      words = splitWords(args);
    } catch (e) {
      return fail((e as Error).message);
    }
    switch (kind) {
      case 'FROM': {
        if (out.some((i) => i.kind === 'FROM')) fail('only one FROM is supported (no multi-stage builds)');
        if (words.length !== 1) fail('FROM takes one image (FROM IMAGE or FROM scratch)');
        out.push({ kind, line, image: words[0]! });
        break;
      }
      case 'RUN': {
        const ex = execForm(args);
        if (!ex && !args.trim()) fail('RUN needs a command');
        out.push(ex ? { kind, line, argv: ex, shell: false, text: args.trim() } : { kind, line, argv: ['/bin/sh', '-c', args.trim()], shell: true, text: args.trim() });
        break;
      }
      case 'CMD':
      case 'ENTRYPOINT': {
        const ex = execForm(args);
        out.push({ kind, line, argv: ex ?? ['/bin/sh', '-c', args.trim()] });
        break;
      }
      case 'COPY':
      case 'ADD': {
        let chown: string | undefined;
        const ex = execForm(args.replace(/^(--\S+\s+)*/, ''));
        const flags = words.filter((w, i) => w.startsWith('--') && words.slice(0, i).every((x) => x.startsWith('--')));
        for (const f of flags) {
          const fm = /^--chown=(.+)$/.exec(f);
          if (fm) chown = fm[1];
          else fail(`${kind} ${f}: unknown flag`, `${kind} [--chown=USER[:GROUP]] SRC... DEST`);
        }
        const list = ex ?? words.slice(flags.length);
        if (list.length < 2) fail(`${kind} needs a source and a destination`);
        out.push({ kind, line, sources: list.slice(0, -1), dest: list[list.length - 1]!, ...(chown ? { chown } : {}) });
        break;
      }
      case 'ENV':
      case 'LABEL':
        out.push({ kind, line, pairs: pairs(file, line, kind, args) });
        break;
      case 'ARG': {
        if (words.length !== 1) fail('ARG takes one NAME[=DEFAULT]');
        const w = words[0]!;
        const i = w.indexOf('=');
        const name = i < 0 ? w : w.slice(0, i);
        if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(name)) fail(`ARG ${name}: not a valid name`);
        out.push(i < 0 ? { kind, line, name } : { kind, line, name, value: w.slice(i + 1) });
        break;
      }
      case 'WORKDIR':
        out.push({ kind, line, path: words.join(' ') });
        break;
      case 'USER':
        if (words.length !== 1) fail('USER takes one USER[:GROUP]');
        out.push({ kind, line, user: words[0]! });
        break;
      case 'EXPOSE':
        for (const p of words) if (!/^(\$\{?\w+\}?|\d{1,5})(\/(tcp|udp))?$/i.test(p)) fail(`EXPOSE ${p}: expected PORT[/tcp|udp]`);
        out.push({ kind, line, ports: words });
        break;
      case 'VOLUME':
        out.push({ kind, line, paths: execForm(args) ?? words });
        break;
      case 'HEALTHCHECK':
        out.push({ kind, line, check: healthcheck(args, fail) });
        break;
    }
  }
  if (!out.some((i) => i.kind === 'FROM')) throw new VesselfileError(file, 1, 'no FROM instruction', 'a Vesselfile starts with FROM IMAGE (or FROM scratch)');
  return out;
}

const HEALTH_OPTIONS: Record<string, keyof Omit<ImageHealthcheck, 'test'>> = {
  '--interval': 'interval', '--timeout': 'timeout', '--start-period': 'startPeriod', '--retries': 'retries',
};
const NS_PER_MS = 1_000_000;

/**
 * `HEALTHCHECK NONE` or `HEALTHCHECK [--interval=D] [--timeout=D] [--start-period=D] [--retries=N]
 * CMD …` (Dockerfile reference): the exec form becomes ["CMD", …], the shell form ["CMD-SHELL",
 * text], durations nanoseconds — the image config as docker's builder writes it (an option left
 * out is not written: the runtime's default applies).
 */
function healthcheck(args: string, fail: (reason: string, hint?: string) => never): ImageHealthcheck {
  const usage = 'HEALTHCHECK [--interval=30s] [--timeout=30s] [--start-period=0s] [--retries=3] CMD command, or HEALTHCHECK NONE';
  let rest = args.trim();
  const check: ImageHealthcheck = { test: [] };
  for (;;) {
    const m = /^(--[a-z-]+)(?:=(\S*))?(?:\s+|$)/.exec(rest);
    if (!m) break;
    const key = HEALTH_OPTIONS[m[1]!];
    if (key === undefined) fail(`HEALTHCHECK ${m[1]}: unknown option`, usage);
    if (m[2] === undefined || m[2] === '') fail(`HEALTHCHECK ${m[1]}: needs a value (${m[1]}=…)`, usage);
    try {
      check[key] = key === 'retries' ? parseInteger(m[2], 1) : parseDuration(m[2], key === 'startPeriod' ? 0 : 1) * NS_PER_MS;
    } catch (e) {
      fail(`HEALTHCHECK ${m[1]}: ${errorMessage(e)}`, usage);
    }
    rest = rest.slice(m[0].length);
  }
  const word = /^(\S+)\s*([\s\S]*)$/.exec(rest);
  const kind = word?.[1]?.toUpperCase();
  if (kind === 'NONE') {
    if (word![2] !== '' || rest !== args.trim()) fail('HEALTHCHECK NONE takes no options or arguments', usage);
    return { test: ['NONE'] };
  }
  if (kind !== 'CMD' || word![2] === '') fail('HEALTHCHECK needs CMD command (or NONE)', usage);
  const ex = execForm(word![2]!);
  if (ex !== undefined && ex.length === 0) fail('HEALTHCHECK CMD []: the command is empty', usage);
  check.test = ex ? ['CMD', ...ex] : ['CMD-SHELL', word![2]!.trim()];
  return check;
}

/** $VAR, ${VAR}, ${VAR:-default}, ${VAR:+alt}; `\$` stays a literal dollar. */
export function substitute(text: string, vars: Map<string, string>): string {
  return text.replace(/\\\$|\$\{([A-Za-z_][A-Za-z0-9_]*)(?::([-+])([^}]*))?\}|\$([A-Za-z_][A-Za-z0-9_]*)/g, (all, braced?: string, op?: string, word?: string, bare?: string) => {
    if (all === '\\$') return '$';
    const name = (braced ?? bare)!;
    const v = vars.get(name);
    if (op === '-') return v === undefined || v === '' ? (word ?? '') : v;
    if (op === '+') return v === undefined || v === '' ? '' : (word ?? '');
    return v ?? '';
  });
}
