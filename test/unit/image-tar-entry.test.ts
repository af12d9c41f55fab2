import { describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { emptyFileEntry } from '../../src/image/tar-entry.js';
import { startGate } from '../../src/image/gate.js';

/**
 * image/tar-entry.ts: the whiteout markers a FreeBSD RUN layer puts before what tar archives,
 * written byte for byte. Read back by vessel's own header reader (the gate every layer goes
 * through) and by real bsdtar (FreeBSD's tar), names as bytes: short, long (pax `path`), and
 * long and not UTF-8 (pax `hdrcharset=BINARY`, as libarchive writes it).
 */
const END = Buffer.alloc(1024);

/** What the gate's header walk tells the judge of each entry (its unpacker, cat, only reads). */
async function names(archive: Buffer): Promise<string[]> {
  const out: string[] = [];
  const gate = startGate({ input: 'pipe', unpack: ['cat'], hash: false, judge: (h) => { out.push(`${h.type} ${h.size} ${h.name}`); return undefined; } });
  gate.stdin!.end(archive);
  const report = await gate.report;
  expect(report.readAll).toBe(true);
  return out;
}

describe('emptyFileEntry', () => {
  const long = `./${'d'.repeat(120)}/.wh.${'n'.repeat(140)}`;
  const longBinary = `./${'d'.repeat(120)}/.wh.bad\xffname`;
  const cases = ['./etc/.wh.foo', './.wh..wh..opq', './etc/.wh.with space', './etc/.wh.new\nline', long, longBinary];

  it('reads back as empty regular files with exactly those names (vessel\'s header reader: the gate)', async () => {
    const archive = Buffer.concat([...cases.map((n) => emptyFileEntry(n)), END]);
    expect(archive.length % 512).toBe(0);
    expect(await names(archive)).toEqual(cases.map((n) => `file 0 ${n}`));
  });

  it('bsdtar lists and unpacks them, bytes of the names unchanged, mode 0644, owner 0', () => {
    const archive = Buffer.concat([...cases.map((n) => emptyFileEntry(n)), END]);
    const listed = execFileSync('bsdtar', ['-t', '-f', '-'], { input: archive }).toString('latin1').split('\n').filter(Boolean);
    // bsdtar -t prints what is not printable escaped (util.c safe_fprintf): \n, \377
    expect(listed).toEqual(cases.map((n) => n.replace('\n', '\\n').replace('\xff', '\\377')));
    const dir = mkdtempSync(join(tmpdir(), 'vessel-tarentry-'));
    try {
      execFileSync('bsdtar', ['-x', '-f', '-', '-C', dir, '--numeric-owner'], { input: archive });
      const bad = readdirSync(join(dir, 'd'.repeat(120)), { encoding: 'buffer' }).map((b) => b.toString('latin1'));
      expect(bad.sort()).toEqual([`.wh.${'n'.repeat(140)}`, '.wh.bad\xffname'].sort());
      const st = statSync(join(dir, 'etc', '.wh.foo'));
      expect([st.size, st.mode & 0o777, st.uid, st.gid]).toEqual([0, 0o644, 0, 0]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('refuses a name tar cannot carry', () => {
    expect(() => emptyFileEntry('')).toThrow(/empty or with a NUL byte/);
    expect(() => emptyFileEntry('a\0b')).toThrow(/empty or with a NUL byte/);
  });
});
