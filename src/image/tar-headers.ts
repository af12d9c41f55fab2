/**
 * The checksum of tar header blocks vessel writes itself (tar-entry.ts's whiteout markers), and
 * entry names as vessel shows them. Names are byte strings (latin1: one char per byte), as tar
 * stores them and as the tar gate (gate.ts) reports them: nothing is lost to UTF-8 decoding, and
 * "/" and "." compare as the bytes the unpacker sees. printableName() shows them.
 */
const BLOCK = 512;

/** A header block's checksum field, written for its bytes as they are (the ustar rule). */
export function writeChecksum(h: Buffer): void {
  h.fill(0x20, 148, 156);
  let sum = 0;
  for (let i = 0; i < BLOCK; i++) sum += h[i]!;
  h.write(sum.toString(8).padStart(6, '0') + '\0 ', 148, 'latin1');
}

const utf8 = new TextDecoder('utf-8', { fatal: true });
const hex = (c: number) => `\\x${c.toString(16).padStart(2, '0')}`;

/**
 * Text fit for one line of a terminal: control characters (C0, DEL, C1) and the characters that
 * reorder text (bidirectional overrides, line and paragraph separators) escaped, the rest as is.
 */
export function printableText(text: string): string {
  let out = '';
  for (const ch of text) {
    const c = ch.codePointAt(0)!;
    if (c < 0x20 || c === 0x7f || (c >= 0x80 && c < 0xa0)) out += hex(c);
    else if (c === 0x2028 || c === 0x2029 || (c >= 0x202a && c <= 0x202e) || (c >= 0x2066 && c <= 0x2069)) out += `\\u${c.toString(16)}`;
    else out += ch;
  }
  return out;
}

/**
 * An entry name (a byte string) as error messages quote it: UTF-8 shown as such, bytes that are
 * not UTF-8 as \xNN, and control characters, backslashes and quotes escaped — never raw.
 */
export function printableName(bytes: string): string {
  const buf = Buffer.from(bytes, 'latin1');
  let text: string;
  try {
    text = utf8.decode(buf);
  } catch {
    let out = '';
    for (const c of buf) out += c < 0x20 || c >= 0x7f || c === 0x5c || c === 0x22 ? hex(c) : String.fromCharCode(c);
    return out;
  }
  return printableText(text.replace(/[\\"]/g, (q) => hex(q.charCodeAt(0))));
}

/** A byte-string name as the UTF-8 text the filesystem calls it, or undefined when it is not UTF-8. */
export function utf8Name(bytes: string): string | undefined {
  try {
    return utf8.decode(Buffer.from(bytes, 'latin1'));
  } catch {
    return undefined;
  }
}
