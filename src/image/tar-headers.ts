import type { EntryHeader } from './validate.js';

/**
 * A header-only tar reader for the checker: it sees every entry's header (ustar, GNU long
 * names, pax path/linkpath/size, base-256 sizes) and skips entry data by counting, touching no
 * data byte — the checker needs names, types, links and sizes, and a full tar parser that
 * wraps each entry's data in a stream costs more than the rest of an import's own work.
 * Errors (bad checksum, truncation, oversized meta headers) are thrown as plain Errors; the
 * caller names the file and the entry.
 */
const BLOCK = 512;
const MAX_META = 4 * 1024 * 1024;

const TYPES: Record<string, string> = {
  '0': 'file', '\0': 'file', '1': 'link', '2': 'symlink', '3': 'character-device', '4': 'block-device',
  '5': 'directory', '6': 'fifo', '7': 'contiguous-file',
};

function cstr(b: Buffer, off: number, len: number): string {
  const end = b.indexOf(0, off);
  return b.toString('utf8', off, end < 0 || end > off + len ? off + len : end);
}

function num(b: Buffer, off: number, len: number): number {
  // GNU base-256 for values that do not fit the octal field.
  if ((b[off]! & 0x80) !== 0) {
    let v = b[off]! & 0x7f;
    for (let i = 1; i < len; i++) v = v * 256 + b[off + i]!;
    return v;
  }
  const s = cstr(b, off, len).trim();
  if (s === '') return 0;
  if (!/^[0-7]+$/.test(s)) throw new Error(`invalid number field ${JSON.stringify(s)}`);
  return parseInt(s, 8);
}

function checksumOk(h: Buffer): boolean {
  let sum = 0;
  for (let i = 0; i < BLOCK; i++) sum += i >= 148 && i < 156 ? 32 : h[i]!;
  try {
    return sum === num(h, 148, 8);
  } catch {
    return false;
  }
}

function parsePax(b: Buffer): Record<string, string> {
  const out: Record<string, string> = {};
  let off = 0;
  while (off < b.length) {
    const sp = b.indexOf(0x20, off);
    if (sp < 0) break;
    const len = parseInt(b.toString('latin1', off, sp), 10);
    if (!Number.isFinite(len) || len <= 0 || off + len > b.length) throw new Error('invalid pax header');
    const rec = b.toString('utf8', sp + 1, off + len - 1);
    const eq = rec.indexOf('=');
    if (eq > 0) out[rec.slice(0, eq)] = rec.slice(eq + 1);
    off += len;
  }
  return out;
}

export class TarHeaderReader {
  private buf: Buffer[] = [];
  private buffered = 0;
  /** Data bytes (plus padding) of the current entry still to skip. */
  private skip = 0;
  /** A meta entry (pax, GNU long name) being collected. */
  private meta: { kind: string; size: number; chunks: Buffer[]; got: number } | undefined;
  private pax: Record<string, string> = {};
  private globalPax: Record<string, string> = {};
  private longName: string | undefined;
  private longLink: string | undefined;

  constructor(private readonly onEntry: (h: EntryHeader) => void) {}

  write(chunk: Buffer): void {
    let off = 0;
    while (off < chunk.length) {
      if (this.skip > 0) {
        const n = Math.min(this.skip, chunk.length - off);
        if (this.meta) {
          const want = this.meta.size - this.meta.got;
          if (want > 0) {
            const part = chunk.subarray(off, off + Math.min(n, want));
            this.meta.chunks.push(Buffer.from(part));
            this.meta.got += part.length;
          }
        }
        this.skip -= n;
        off += n;
        if (this.skip === 0 && this.meta) this.finishMeta();
        continue;
      }
      // Collect one 512-byte header (it may span chunks).
      const need = BLOCK - this.buffered;
      const part = chunk.subarray(off, off + need);
      this.buf.push(part);
      this.buffered += part.length;
      off += part.length;
      if (this.buffered === BLOCK) {
        const h = this.buf.length === 1 ? this.buf[0]! : Buffer.concat(this.buf);
        this.buf = [];
        this.buffered = 0;
        this.header(h);
      }
    }
  }

  /** At the end of the stream: throws when it stopped inside a header or an entry's data. */
  end(): void {
    if (this.buffered !== 0 || this.skip !== 0 || this.meta) throw new Error('Unexpected end of data');
  }

  private header(h: Buffer): void {
    if (h.every((b) => b === 0)) return; // end-of-archive blocks (anything after is still checked)
    if (!checksumOk(h)) throw new Error('Invalid tar header (bad checksum). Maybe the tar is corrupted or it needs to be decompressed?');
    const flag = String.fromCharCode(h[156]!);
    let size = num(h, 124, 12);
    const padded = (n: number) => Math.ceil(n / BLOCK) * BLOCK;
    if (flag === 'x' || flag === 'g' || flag === 'L' || flag === 'K') {
      if (size > MAX_META) throw new Error('Header exceeds max size');
      this.meta = { kind: flag, size, chunks: [], got: 0 };
      this.skip = padded(size);
      if (this.skip === 0) this.finishMeta();
      return;
    }
    const ustar = h.toString('latin1', 257, 262) === 'ustar';
    let name = cstr(h, 0, 100);
    if (ustar && h[345] !== 0 && h.toString('latin1', 257, 263) === 'ustar\0') name = `${cstr(h, 345, 155)}/${name}`;
    let linkname = cstr(h, 157, 100);
    let type: string | null = TYPES[flag] ?? null;
    if (type === 'file' && name.endsWith('/')) type = 'directory';
    const pax = { ...this.globalPax, ...this.pax };
    if (this.longName !== undefined) name = this.longName;
    if (this.longLink !== undefined) linkname = this.longLink;
    if (pax.path !== undefined) name = pax.path;
    if (pax.linkpath !== undefined) linkname = pax.linkpath;
    if (pax.size !== undefined) {
      if (!/^\d+$/.test(pax.size)) throw new Error(`invalid pax size ${JSON.stringify(pax.size)}`);
      size = Number(pax.size);
    }
    this.pax = {};
    this.longName = undefined;
    this.longLink = undefined;
    // As GNU tar and tar-stream do: every entry but a directory is followed by `size` bytes.
    this.onEntry({ name, type, linkname, size });
    this.skip = type === 'directory' ? 0 : padded(size);
  }

  private finishMeta(): void {
    const m = this.meta!;
    this.meta = undefined;
    const data = Buffer.concat(m.chunks);
    if (m.kind === 'x') this.pax = parsePax(data);
    else if (m.kind === 'g') this.globalPax = { ...this.globalPax, ...parsePax(data) };
    else {
      const s = data.toString('utf8');
      const v = s.indexOf('\0') < 0 ? s : s.slice(0, s.indexOf('\0'));
      if (m.kind === 'L') this.longName = v;
      else this.longLink = v;
    }
  }
}
