import { utf8Name, writeChecksum } from './tar-headers.js';

/**
 * Tar headers of empty regular files, written byte for byte: the OCI whiteout markers of a layer
 * made from a listing (build/), put in front of what tar archives. tar-stream cannot be used: it
 * writes names as UTF-8 text, while names here are byte strings (latin1: a char per byte, as
 * tar-headers.ts reads them). POSIX pax (IEEE 1003.1 pax "ustar Interchange Format" and
 * "pax Extended Header"): a name that fits 100 bytes goes in the header's name field; a longer
 * one in an extended header record `path=…` (typeflag 'x') before it, with `hdrcharset=BINARY`
 * when the bytes are not UTF-8 — what libarchive's pax writer does too (bsdtar writes the same
 * two records for such a name).
 */
const BLOCK = 512;

function octal(h: Buffer, off: number, len: number, value: number): void {
  h.write(value.toString(8).padStart(len - 1, '0') + '\0', off, len, 'latin1');
}

function header(name: string, type: '0' | 'x', size: number, mtime: number): Buffer {
  const h = Buffer.alloc(BLOCK);
  h.write(name.slice(0, 100), 0, 100, 'latin1');
  octal(h, 100, 8, 0o644);
  octal(h, 108, 8, 0);
  octal(h, 116, 8, 0);
  octal(h, 124, 12, size);
  octal(h, 136, 12, mtime);
  h.write(type, 156, 1, 'latin1');
  h.write('ustar\0' + '00', 257, 8, 'latin1');
  writeChecksum(h);
  return h;
}

/** One pax record, "LEN KEY=VALUE\n", LEN counting its own digits (bytes, VALUE a byte string). */
function paxRecord(key: string, value: string): Buffer {
  const body = ` ${key}=${value}\n`;
  const bodyLen = Buffer.byteLength(body, 'latin1');
  let len = bodyLen + 1;
  while (String(len).length + bodyLen !== len) len = String(len).length + bodyLen;
  return Buffer.from(`${len}${body}`, 'latin1');
}

/**
 * The header blocks of an empty regular file NAME (a byte string), mode 0644, owner 0:0, mtime
 * 0 (a marker carries no metadata of its own; a fixed time keeps the layer reproducible).
 */
export function emptyFileEntry(name: string): Buffer {
  if (name.length === 0 || name.includes('\0')) throw new Error(`tar entry name ${JSON.stringify(name)}: empty or with a NUL byte`);
  if (name.length <= 100) return header(name, '0', 0, 0);
  const records = Buffer.concat([...(utf8Name(name) !== undefined ? [] : [paxRecord('hdrcharset', 'BINARY')]), paxRecord('path', name)]);
  const pad = Buffer.alloc((BLOCK - (records.length % BLOCK)) % BLOCK);
  return Buffer.concat([header('PaxHeader/marker', 'x', records.length, 0), records, pad, header(name, '0', 0, 0)]);
}
