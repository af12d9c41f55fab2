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
