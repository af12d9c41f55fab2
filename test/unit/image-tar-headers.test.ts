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

  it('cleans up', () => {
    rmSync(dir, { recursive: true, force: true });
  });
});
