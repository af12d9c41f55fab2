import { invalid, show } from './fail.js';

/**
 * Commands in a spec are written the way a shell would take them (`httpd -f -p 80`), split into
 * argv here — once, with no shell at run time, so nothing in a spec is ever re-interpreted.
 * Quoting follows POSIX sh: '…' is literal, "…" honours \" \\ \$ \` and a backslash outside
 * quotes escapes the next character. There is no expansion: `$HOME` stays `$HOME` (use
 * `sh -c '…'` for shell features). A JSON array (`["a", "b c"]`, docker's exec form) is taken as is.
 */
export function splitCommand(text: string): string[] {
  const words: string[] = [];
  let word = '';
  let inWord = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (c === "'") {
      const end = text.indexOf("'", i + 1);
      if (end < 0) invalid(`${show(text)} has an unterminated ' quote`);
      word += text.slice(i + 1, end);
      inWord = true;
      i = end;
    } else if (c === '"') {
      inWord = true;
      let closed = false;
      for (i++; i < text.length; i++) {
        const d = text[i]!;
        if (d === '"') {
          closed = true;
          break;
        }
        if (d === '\\' && i + 1 < text.length && '"\\$`\n'.includes(text[i + 1]!)) {
          i++;
          if (text[i] !== '\n') word += text[i];
        } else word += d;
      }
      if (!closed) invalid(`${show(text)} has an unterminated " quote`);
    } else if (c === '\\') {
      if (i + 1 >= text.length) invalid(`${show(text)} ends with a lone backslash`);
      i++;
      if (text[i] !== '\n') {
        word += text[i];
        inWord = true;
      }
    } else if (c === ' ' || c === '\t' || c === '\n' || c === '\r') {
      if (inWord) words.push(word);
      word = '';
      inWord = false;
    } else {
      word += c;
      inWord = true;
    }
  }
  if (inWord) words.push(word);
  return words;
}

/** A JSON array of strings, or undefined when `text` is not one (then it is shell words). */
function parseJsonArgv(text: string): string[] | undefined {
  if (!text.trimStart().startsWith('[')) return undefined;
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch {
    // `[ -f /x ]` is a shell command, not broken JSON: docker makes the same call.
    return undefined;
  }
  if (!Array.isArray(v) || !v.every((s): s is string => typeof s === 'string')) {
    invalid(`${show(text)} is a JSON value but not an array of strings`);
  }
  return v;
}

/** A command or entrypoint value from a spec: JSON exec form or shell words. */
export function parseCommand(text: string): string[] {
  const json = parseJsonArgv(text);
  if (json !== undefined) return json;
  const argv = splitCommand(text);
  if (argv.length === 0) invalid('is empty (write [] for an explicitly empty command, or leave the key out)');
  return argv;
}

const SAFE_WORD = /^[A-Za-z0-9_@%+=:,./-]+$/;

/** One argv word quoted so that splitCommand gives it back unchanged. */
export function quoteWord(word: string): string {
  if (SAFE_WORD.test(word)) return word;
  return `'${word.replace(/'/g, `'\\''`)}'`;
}

/**
 * argv → the text parseCommand reads back to the same argv: shell words when that is readable,
 * the JSON form when a word holds a control character (a newline cannot live on an INI line).
 */
export function formatCommand(argv: readonly string[]): string {
  if (argv.length === 0 || argv.some((w) => /[\u0000-\u001f\u007f]/.test(w))) return JSON.stringify(argv);
  return argv.map(quoteWord).join(' ');
}
