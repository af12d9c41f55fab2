import { describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, mkdirSync, rmSync, symlinkSync, writeFileSync, linkSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import tarStream from 'tar-stream';
import { TarHeaderReader } from '../../src/image/tar-headers.js';
import { makeTar } from '../helpers/image.js';

/** What tar-stream (a full parser) sees: the reference for the header-only reader. */
async function withTarStream(data: Buffer): Promise<string[]> {
  const ex = tarStream.extract();
  const out: string[] = [];
  ex.on('entry', (h, s, next) => {
    out.push(`${h.type} ${h.name} ${h.linkname ?? ''} ${h.type === 'file' ? h.size : ''}`);
    s.on('end', () => next());
    s.resume();
  });
  const done = new Promise<void>((res, rej) => { ex.on('finish', () => res()); ex.on('error', rej); });
  ex.end(data);
  await done;
  return out;
}

function withReader(data: Buffer, chunk: number): string[] {
  const out: string[] = [];
  const passed: Buffer[] = [];
  const r = new TarHeaderReader((h) => {
    out.push(`${h.type} ${h.name} ${h.linkname ?? ''} ${h.type === 'file' ? h.size : ''}`);
    return undefined;
  });
  for (let i = 0; i < data.length; i += chunk) r.write(data.subarray(i, i + chunk), (b) => passed.push(Buffer.from(b)));
  r.end();
  // The gate hands on every byte, in order, whatever the chunking.
  expect(Buffer.concat(passed).equals(data)).toBe(true);
  return out;
}

describe('TarHeaderReader', () => {
  const dir = mkdtempSync(join(tmpdir(), 'vessel-tarhdr-'));
  const tree = join(dir, 'tree');
  const long = 'd'.repeat(120);
  mkdirSync(join(tree, long, 'sub'), { recursive: true });
  writeFileSync(join(tree, long, 'sub', 'f'.repeat(110)), 'x'.repeat(1000));
  writeFileSync(join(tree, 'small'), 'hi');
  writeFileSync(join(tree, 'empty'), '');
  linkSync(join(tree, 'small'), join(tree, 'hard'));
  symlinkSync(`/${'t'.repeat(150)}`, join(tree, 'longlink'));
  symlinkSync('/etc/passwd', join(tree, 'abs'));

  it.each([
    ['GNU tar, gnu format', ['--format=gnu']],
    ['GNU tar, pax format', ['--format=pax']],
    ['GNU tar, ustar format', ['--format=ustar']],
  ])('reads %s like a full parser, whatever the chunking', async (_what, fmt) => {
    const file = join(dir, `t-${fmt[0]!.slice(9)}.tar`);
    try {
      execFileSync('tar', ['-c', '-f', file, ...fmt, '--sort=name', '-C', tree, '.'], { stdio: 'pipe' });
    } catch (e) {
      // ustar cannot hold the long symlink target: that archive is simply not made.
      if (fmt[0] === '--format=ustar') return;
      throw e;
    }
    const data = readFileSync(file);
    const ref = await withTarStream(data);
    expect(ref.length).toBeGreaterThan(5);
    for (const chunk of [1, 7, 512, 513, 65536]) expect(withReader(data, chunk)).toEqual(ref);
  });

  it('reads tar-stream and bsdtar archives like a full parser', async () => {
    const a = await makeTar([{ name: 'a', type: 'directory' }, { name: 'a/b', content: 'data' }, { name: 'l', type: 'symlink', linkname: '/x' }, { name: `p/${'q'.repeat(200)}`, content: 'long' }]);
    expect(withReader(a, 100)).toEqual(await withTarStream(a));
    const b = execFileSync('bsdtar', ['-c', '-f', '-', '--format', 'pax', '-C', tree, '.'], { maxBuffer: 1 << 26 });
    expect(withReader(b, 4096)).toEqual(await withTarStream(b));
  });

  it('refuses bad checksums and truncation', () => {
    const good = execFileSync('tar', ['-c', '-f', '-', '-C', tree, 'small']);
    const bad = Buffer.from(good);
    bad[10] = 0x41;
    expect(() => withReader(bad, 512)).toThrow(/bad checksum/);
    expect(() => withReader(good.subarray(0, 700), 512)).toThrow(/Unexpected end of data/);
    expect(() => withReader(good.subarray(0, 300), 512)).toThrow(/Unexpected end of data/);
  });

  /** Feed `data` in `chunk`-byte pieces through a reader with `judge`; what it handed on, in order. */
  function gate(data: Buffer, chunk: number, judge: ConstructorParameters<typeof TarHeaderReader>[0]): { passed: Buffer; reader: TarHeaderReader } {
    const passed: Buffer[] = [];
    const reader = new TarHeaderReader(judge);
    for (let i = 0; i < data.length; i += chunk) reader.write(data.subarray(i, i + chunk), (b) => passed.push(Buffer.from(b)));
    return { passed: Buffer.concat(passed), reader };
  }

  it('a refused entry is never handed on, even when its header block is split across chunks', async () => {
    // "a" (header + one data block), then the refused entry's header at byte 1024
    const data = await makeTar([{ name: 'a', content: 'data' }, { name: 'evil', content: 'x' }, { name: 'after', content: 'y' }]);
    const refused = 1024;
    expect(data.toString('latin1', refused, refused + 4)).toBe('evil');
    for (const chunk of [1, 7, 100, 511, 513, refused + 100, refused + 511, 65536]) {
      const { passed, reader } = gate(data, chunk, (h) => (h.name === 'evil' ? { refuse: 'refused by the test' } : undefined));
      expect([chunk, passed.length <= refused]).toEqual([chunk, true]);
      expect([chunk, passed.equals(data.subarray(0, passed.length))]).toEqual([chunk, true]);
      expect(reader.stopped).toBe(true);
      // nothing after the refusal either
      let more = 0;
      reader.write(data, (b) => { more += b.length; });
      expect(more).toBe(0);
    }
  });

  it('a placeholder is an empty regular file\'s header: valid checksum, type 0, no link name; the framing kept', async () => {
    const data = await makeTar([{ name: 'lower', type: 'directory' }, { name: 'lower/link', type: 'link', linkname: 'usr/bin/target' }, { name: 'next', content: 'n' }]);
    for (const chunk of [1, 100, 512, 700, 65536]) {
      const { passed, reader } = gate(data, chunk, (h) => (h.type === 'link' ? 'placeholder' : undefined));
      reader.end();
      expect(passed.length).toBe(data.length);
      const h = passed.subarray(512, 1024);
      expect(h.toString('latin1', 0, 10)).toBe('lower/link');
      expect(String.fromCharCode(h[156]!)).toBe('0');
      expect(h.subarray(157, 257).every((b) => b === 0)).toBe(true);
      let sum = 0;
      for (let i = 0; i < 512; i++) sum += i >= 148 && i < 156 ? 32 : h[i]!;
      expect(parseInt(h.toString('latin1', 148, 155), 8)).toBe(sum);
      // everything else as it came
      expect(passed.subarray(0, 512).equals(data.subarray(0, 512))).toBe(true);
      expect(passed.subarray(1024).equals(data.subarray(1024))).toBe(true);
      // and a full parser reads it as that file (tar-stream checks the checksum)
      expect(await withTarStream(passed)).toEqual(['directory lower  ', 'file lower/link  0', 'file next  1']);
    }
  });

  it('cleans up', () => {
    rmSync(dir, { recursive: true, force: true });
  });
});
