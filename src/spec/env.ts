import { invalid, show } from './fail.js';

/** `K=V`. The name is anything without `=`, whitespace or NUL (POSIX leaves the rest to applications). */
export function parseEnv(text: string): [string, string] {
  const eq = text.indexOf('=');
  if (eq < 0) {
    invalid(`${show(text)} has no value`, 'write K=V (a bare K is only accepted on the command line, where it copies the caller\'s variable)');
  }
  return [checkEnvName(text.slice(0, eq), text), checkEnvValue(text.slice(eq + 1), text)];
}

export function checkEnvName(name: string, original: string = name): string {
  if (!/^[^=\s\0]+$/.test(name)) invalid(`${show(original)}: ${show(name)} is not an environment variable name`);
  return name;
}

function checkEnvValue(value: string, original: string): string {
  if (value.includes('\0')) invalid(`${show(original)}: the value contains a NUL byte`);
  return value;
}

/** -e K=V, or -e K copying K from the caller's environment (skipped when unset, like docker). */
export function parseEnvFlag(text: string, environ: Record<string, string | undefined>): [string, string] | undefined {
  if (text.includes('=')) return parseEnv(text);
  const name = checkEnvName(text);
  const v = environ[name];
  return v === undefined ? undefined : [name, v];
}

/** An image's env list (`K=V` strings) as pairs; an entry without a name before `=` is skipped. */
export function envPairs(list: readonly string[] = []): Array<[string, string]> {
  const out: Array<[string, string]> = [];
  for (const e of list) {
    const i = e.indexOf('=');
    if (i > 0) out.push([e.slice(0, i), e.slice(i + 1)]);
  }
  return out;
}

/**
 * The one env merge (a start, `vessel plan`, `vessel exec`, a build's ENV step): the image's
 * list, then the pairs given, by key — docker's order, the later value wins, a key keeps the
 * place it first had.
 */
export function mergeEnv(imageEnv: readonly string[] = [], pairs: ReadonlyArray<readonly [string, string]>): string[] {
  const m = new Map(envPairs(imageEnv));
  for (const [k, v] of pairs) m.set(k, v);
  return [...m].map(([k, v]) => `${k}=${v}`);
}
