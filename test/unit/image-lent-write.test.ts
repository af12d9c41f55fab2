import { spawn, spawnSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { appendFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough, type Writable } from 'node:stream';
import { gzipSync } from 'node:zlib';
import { afterAll, describe, expect, it } from 'vitest';
import { lentWriter } from '../../src/image/lent-write.js';
import { openLayerFeed } from '../../src/image/layer-feed.js';

const dir = mkdtempSync(join(tmpdir(), 'vessel-lent-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** A real reader on a real pipe (the stdin libuv gives a child), starting after `delayS`. */
function reader(script: string, out: string): { stdin: Writable; exited: Promise<number | null> } {
  const child = spawn('sh', ['-c', script, 'sh', out], { stdio: ['pipe', 'ignore', 'inherit'] });
  child.stdin.on('error', () => undefined);
  return { stdin: child.stdin, exited: new Promise((res) => child.once('exit', res)) };
}

/**
 * Write `data` as a transport does: every chunk in one reused buffer, overwritten with junk as
 * soon as write() returns (the chunk was lent for the call only) and refilled with the next
 * bytes once the writer lets it go on. `eager`: the next chunk comes at once, without waiting
 * for the last one's promise (pieces of one HTTP read).
 */
async function lend(w: ReturnType<typeof lentWriter>, data: Buffer, chunk: number, eager = 0): Promise<void> {
  const buf = Buffer.alloc(chunk);
  let pending: Promise<void> | undefined;
  for (let off = 0, i = 0; off < data.length; off += chunk, i++) {
    const n = data.copy(buf, 0, off, off + chunk);
    const p = w.write(buf.subarray(0, n));
    buf.fill(0xee);
    if (p) pending = pending ? Promise.all([pending, p]).then(() => undefined) : p;
    if (pending && (eager === 0 || i % eager === eager - 1)) {
      await pending;
      pending = undefined;
    }
  }
  await pending;
}

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

describe('lentWriter: lent chunks into a pipe, copying only what a full pipe did not take', () => {
  it('a reader slower than the writer: partial writes and EAGAIN, every byte in order, only remainders copied', async () => {
    const data = randomBytes(24 * (1 << 20) + 12345);
    const out = join(dir, 'slow');
    // The pipe fills before the reader starts, and dd's small reads keep it full afterwards.
    const r = reader('sleep 0.3; dd bs=16k of="$1" 2>/dev/null', out);
    const w = lentWriter(r.stdin, r.exited);
    await lend(w, data, 256 * 1024);
    r.stdin.end();
    expect(await r.exited).toBe(0);
    expect(sha(readFileSync(out))).toBe(sha(data));
    expect(w.copied).toBeGreaterThan(0);
    expect(w.copied).toBeLessThan(data.length);
  });

  it('more pieces while one waits (a chunked body\'s pieces of one read), each overwritten at once: still in order', async () => {
    const data = randomBytes(8 * (1 << 20) + 7);
    const out = join(dir, 'eager');
    const r = reader('sleep 0.2; dd bs=4k of="$1" 2>/dev/null', out);
    const w = lentWriter(r.stdin, r.exited);
    await lend(w, data, 100 * 1024 + 3, 3);
    r.stdin.end();
    expect(await r.exited).toBe(0);
    expect(sha(readFileSync(out))).toBe(sha(data));
  });

  it('owned chunks are never copied', async () => {
    const out = join(dir, 'owned');
    const r = reader('sleep 0.2; cat > "$1"', out);
    const w = lentWriter(r.stdin, r.exited);
    const parts = Array.from({ length: 32 }, () => randomBytes(256 * 1024));
    for (const p of parts) await w.write(p, true);
    r.stdin.end();
    expect(await r.exited).toBe(0);
    expect(sha(readFileSync(out))).toBe(sha(Buffer.concat(parts)));
    expect(w.copied).toBe(0);
  });

  it('a reader that exits early (EPIPE): writes stop waiting once it is gone, nothing throws, nothing hangs', async () => {
    const out = join(dir, 'early');
    const r = reader('head -c 1000 > "$1"', out);
    const w = lentWriter(r.stdin, r.exited);
    await lend(w, randomBytes(16 * (1 << 20)), 256 * 1024);
    expect(await r.exited).toBe(0);
    expect(readFileSync(out).length).toBe(1000);
    // And after it: at once.
    await w.write(Buffer.alloc(10));
  });

  it('a stream without a descriptor gets a copy of every lent byte', async () => {
    const pt = new PassThrough({ highWaterMark: 1 << 30 });
    const got: Buffer[] = [];
    pt.on('data', (c: Buffer) => got.push(c));
    const w = lentWriter(pt, new Promise(() => undefined));
    const data = randomBytes(1 << 20);
    await lend(w, data, 64 * 1024);
    expect(sha(Buffer.concat(got))).toBe(sha(data));
    expect(w.copied).toBe(data.length);
  });
});

describe('openLayerFeed: a layer appended to its file in lent chunks, each overwritten after the call, unpacks exactly', () => {
  const root = join(dir, 'layer');
  mkdirSync(join(root, 'src'), { recursive: true });
  const content = randomBytes(12 * (1 << 20) + 999);
  writeFileSync(join(root, 'src', 'data'), content);
  const tar = join(root, 'layer.tar');
  expect(spawnSync('tar', ['-C', join(root, 'src'), '-cf', tar, '.']).status).toBe(0);
  expect(spawnSync('zstd', ['-q', '-1', '-f', tar, '-o', `${tar}.zst`]).status).toBe(0);
  writeFileSync(`${tar}.gz`, gzipSync(readFileSync(tar), { level: 1 }));

  for (const [kind, file] of [['plain tar', tar], ['zstd (the gate decompresses)', `${tar}.zst`], ['gzip (zlib decompresses)', `${tar}.gz`]] as const) {
    it(kind, async () => {
      const blob = readFileSync(file);
      const digest = `sha256:${sha(blob)}` as const;
      const staging = join(root, `staging-${kind.split(' ')[0]}`);
      mkdirSync(staging, { recursive: true });
      // As layer-fetch.ts writes it: each chunk appended to the blob's file, then told to the
      // feed (the gate follows the file; gzip's zlib is handed the lent chunk).
      const part = join(staging, 'blob.part');
      writeFileSync(part, '');
      const feed = await openLayerFeed(staging, 'l', { source: kind, whiteouts: true, file: part });
      const buf = Buffer.alloc(256 * 1024);
      for (let off = 0; off < blob.length; off += buf.length) {
        const n = blob.copy(buf, 0, off, off + buf.length);
        appendFileSync(part, buf.subarray(0, n));
        const p = feed.grew(buf.subarray(0, n));
        buf.fill(0x5a);
        await p;
      }
      const staged = await feed.end({ mediaType: 'application/vnd.oci.image.layer.v1.tar', digest, size: blob.length }, part);
      expect(sha(readFileSync(join(staged.layerDir, 'data')))).toBe(sha(content));
      expect(staged.diffId).toBe(`sha256:${sha(readFileSync(tar))}`);
    });
  }
});
