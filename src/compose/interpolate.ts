/**
 * Variable interpolation of the compose specification ("Interpolation"): `$VAR`, `${VAR}`,
 * `${VAR:-default}` / `${VAR-default}` (unset or empty / unset), `${VAR:?err}` / `${VAR?err}`
 * (required), `${VAR:+alt}` / `${VAR+alt}` (when set), defaults and alternatives themselves
 * interpolated (`${A:-${B}}`), and `$$` for a literal `$`. An unset variable without a default is
 * the empty string, as docker compose does, and is reported so the user sees it.
 */
export type Lookup = (name: string) => string | undefined;

export class InterpolationError extends Error {}

const NAME = /^[A-Za-z_][A-Za-z0-9_]*/;

export function interpolate(text: string, lookup: Lookup, unset: Set<string>): string {
  let out = '';
  let i = 0;
  while (i < text.length) {
    const c = text[i]!;
    if (c !== '$') {
      out += c;
      i++;
      continue;
    }
    const next = text[i + 1];
    if (next === '$') {
      out += '$';
      i += 2;
      continue;
    }
    if (next === '{') {
      const end = closingBrace(text, i + 2);
      if (end < 0) throw new InterpolationError(`${JSON.stringify(text)}: unterminated \${ (write $$ for a literal $)`);
      out += expand(text.slice(i + 2, end), lookup, unset, text);
      i = end + 1;
      continue;
    }
    const m = NAME.exec(text.slice(i + 1));
    if (m) {
      const v = lookup(m[0]);
      if (v === undefined) unset.add(m[0]);
      out += v ?? '';
      i += 1 + m[0].length;
      continue;
    }
    // A lone `$` before anything that is not a name stays as written, as in docker compose.
    out += '$';
    i++;
  }
  return out;
}

/** Index of the `}` closing a `${` whose body starts at `from`, counting nested `${…}`. */
function closingBrace(text: string, from: number): number {
  let depth = 1;
  for (let i = from; i < text.length; i++) {
    if (text[i] === '$' && text[i + 1] === '$') {
      i++;
    } else if (text[i] === '$' && text[i + 1] === '{') {
      depth++;
      i++;
    } else if (text[i] === '}') {
      depth--;
      if (depth === 0) return i;
    }
  }
  return -1;
}

function expand(body: string, lookup: Lookup, unset: Set<string>, whole: string): string {
  const m = NAME.exec(body);
  if (!m) throw new InterpolationError(`${JSON.stringify(whole)}: \${${body}} does not start with a variable name`);
  const name = m[0];
  const rest = body.slice(name.length);
  const value = lookup(name);
  if (rest === '') {
    if (value === undefined) unset.add(name);
    return value ?? '';
  }
  const op = /^(:?[-?+])/.exec(rest);
  if (!op) throw new InterpolationError(`${JSON.stringify(whole)}: \${${body}}: expected :- - :? ? :+ or + after ${name}`);
  const arg = () => interpolate(rest.slice(op[1]!.length), lookup, unset);
  const emptyCounts = op[1]!.startsWith(':');
  const isSet = value !== undefined && !(emptyCounts && value === '');
  switch (op[1]!.replace(':', '')) {
    case '-':
      return isSet ? value! : arg();
    case '+':
      return isSet ? arg() : '';
    default: {
      if (isSet) return value!;
      const msg = arg();
      throw new InterpolationError(`required variable ${name} is missing a value${msg === '' ? '' : `: ${msg}`}`);
    }
  }
}
