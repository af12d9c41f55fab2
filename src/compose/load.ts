import { readFileSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { VesselError, hasErrno } from '../util/index.js';
import { parseDotenv } from './dotenv.js';
import { interpolate, InterpolationError, type Lookup } from './interpolate.js';

/**
 * A compose file read: YAML parsed (the `yaml` package, loaded only here, so no other command
 * pays for it), anchors and `<<` merges resolved, every string value interpolated from the
 * environment and the `.env` file beside the compose file, the project name settled. Positions are
 * kept so every later error can name `FILE:LINE`.
 */
export type Path = ReadonlyArray<string | number>;

export interface ComposeSource {
  /** The compose file, absolute. */
  file: string;
  /** Its directory: relative paths in the file are relative to it. */
  dir: string;
  /** [a-z0-9][a-z0-9_-]*: `name:`, COMPOSE_PROJECT_NAME, or the directory's name. */
  project: string;
  /** The whole file as plain data, interpolated. */
  data: Record<string, unknown>;
  /** `FILE:LINE` of the value at `path` (or of the nearest enclosing value that has a position). */
  where(path: Path): string;
  /** Variables used but set nowhere (substituted by the empty string, as docker compose does). */
  unset: string[];
  /** The variables interpolation saw: the environment over the `.env` file. */
  lookup: Lookup;
}

export interface LoadOptions {
  /** The environment (default process.env): it wins over `.env`, as in docker compose. */
  env?: Record<string, string | undefined>;
  /** -p / --project-name: wins over `name:` and COMPOSE_PROJECT_NAME. */
  project?: string;
}

function fail(message: string, hint?: string): never {
  throw new VesselError('E_SPEC', message, hint === undefined ? {} : { hint });
}

/** A file the compose file names, or undefined when there is none; `what` is said with its article ("a .env file"). */
export function readText(path: string, what: string): string | undefined {
  try {
    return readFileSync(path, 'utf8');
  } catch (e) {
    if (hasErrno(e, 'ENOENT')) return undefined;
    if (hasErrno(e, 'EISDIR')) fail(`${path}: is a directory, not ${what}`);
    throw new VesselError('E_SPEC', `${path}: cannot read: ${(e as Error).message}`, { cause: e });
  }
}

/** compose's project name rule: lower case, [a-z0-9_-], starting with a letter or digit. */
export function normalizeProject(name: string): string {
  return name.toLowerCase().replace(/[^a-z0-9_-]/g, '').replace(/^[^a-z0-9]+/, '');
}

export async function loadCompose(path: string, opts: LoadOptions = {}): Promise<ComposeSource> {
  const file = resolve(path);
  const dir = dirname(file);
  const text = readText(file, 'a compose file');
  if (text === undefined) fail(`${file}: no such compose file`);
  const env = opts.env ?? process.env;
  const unset = new Set<string>();

  const dotenvPath = join(dir, '.env');
  const dotenvText = readText(dotenvPath, 'a .env file');
  const dotenv = new Map<string, string>();
  if (dotenvText !== undefined) {
    try {
      for (const e of parseDotenv(dotenvText, dotenvPath, (n) => env[n], unset)) dotenv.set(e.key, e.value);
    } catch (e) {
      fail((e as Error).message);
    }
  }
  const lookup: Lookup = (n) => env[n] ?? dotenv.get(n);

  const YAML = await import('yaml');
  const lines = new YAML.LineCounter();
  const doc = YAML.parseDocument(text, { lineCounter: lines, merge: true, uniqueKeys: true, prettyErrors: true });
  const err = doc.errors[0];
  if (err !== undefined) {
    const pos = err.linePos?.[0];
    fail(`${file}:${pos?.line ?? 1}: not valid YAML: ${err.message.split('\n')[0]!.replace(/ at line \d+, column \d+:?$/, '')}`);
  }
  type Ranged = { range?: [number, number, number] | null };
  /** The key's line for a mapping entry (where a person looks for it), the item's for a list entry. */
  const lineOf = (p: Path): number | undefined => {
    for (let n = p.length; n > 0; n--) {
      const parent = doc.getIn(p.slice(0, n - 1), true) as unknown;
      const last = p[n - 1];
      let node: Ranged | undefined;
      if (YAML.isMap(parent)) node = parent.items.find((it) => YAML.isScalar(it.key) && it.key.value === last)?.key as Ranged | undefined;
      else if (YAML.isSeq(parent) && typeof last === 'number') node = parent.items[last] as Ranged | undefined;
      if (node?.range) return lines.linePos(node.range[0]).line;
    }
    return undefined;
  };
  const where = (p: Path): string => {
    const line = lineOf(p);
    return line === undefined ? file : `${file}:${line}`;
  };

  let raw: unknown;
  try {
    raw = doc.toJS({ maxAliasCount: 10000 });
  } catch (e) {
    fail(`${file}: ${(e as Error).message.split('\n')[0]}`);
  }
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) fail(`${file}: a compose file is a mapping with services:`);

  const interpolateAll = (v: unknown, p: Array<string | number>): unknown => {
    if (typeof v === 'string') {
      try {
        return interpolate(v, lookup, unset);
      } catch (e) {
        if (e instanceof InterpolationError) fail(`${where(p)}: ${p.join('.')}: ${e.message}`);
        throw e;
      }
    }
    if (Array.isArray(v)) return v.map((x, i) => interpolateAll(x, [...p, i]));
    if (v !== null && typeof v === 'object') {
      const o: Record<string, unknown> = {};
      // Extension fields (x-…) are for anchors; compose does not interpolate what nobody reads.
      for (const [k, x] of Object.entries(v)) o[k] = k.startsWith('x-') ? x : interpolateAll(x, [...p, k]);
      return o;
    }
    return v;
  };
  const data = interpolateAll(raw, []) as Record<string, unknown>;

  const named = opts.project ?? (typeof data.name === 'string' ? data.name : undefined) ?? lookup('COMPOSE_PROJECT_NAME') ?? basename(dir);
  const project = normalizeProject(named);
  if (project === '') {
    fail(`${file}: project name ${JSON.stringify(named)} has no letter or digit`, 'set name: in the compose file, or pass -p NAME');
  }
  return { file, dir, project, data, where, unset: [...unset].sort(), lookup };
}
