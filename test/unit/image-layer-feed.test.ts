import { spawnSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { appendFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { afterAll, describe, expect, it } from 'vitest';
import { openLayerFeed } from '../../src/image/layer-feed.js';

const dir = mkdtempSync(join(tmpdir(), 'vessel-layer-feed-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

describe('openLayerFeed: a layer appended to its file in lent chunks, each overwritten after the call, unpacks exactly', () => {
  const root = join(dir, 'layer');
  mkdirSync(join(root, 'src'), { recursive: true });
  const content = randomBytes(12 * (1 << 20) + 999);
  writeFileSync(join(root, 'src', 'data'), content);
  const tar = join(root, 'layer.tar');
  expect(spawnSync('tar', ['-C', join(root, 'src'), '-cf', tar, '.']).status).toBe(0);
  expect(spawnSync('zstd', ['-q', '-1', '-f', tar, '-o', `${tar}.zst`]).status).toBe(0);
  writeFileSync(`${tar}.gz`, gzipSync(readFileSync(tar), { level: 1 }));

  for (const [kind, file] of [['plain tar', tar], ['zstd (the gate decompresses)', `${tar}.zst`], ['gzip (the gate decompresses with igzip)', `${tar}.gz`]] as const) {
    it(kind, async () => {
      const blob = readFileSync(file);
      const digest = `sha256:${sha(blob)}` as const;
      const staging = join(root, `staging-${kind.split(' ')[0]}`);
      mkdirSync(staging, { recursive: true });
      // As layer-fetch.ts writes it: each chunk appended to the blob's file, then told to the
      // feed (the gate follows the file).
      const part = join(staging, 'blob.part');
      writeFileSync(part, '');
      const feed = await openLayerFeed(staging, 'l', { source: kind, whiteouts: true, file: part });
      const buf = Buffer.alloc(256 * 1024);
      for (let off = 0; off < blob.length; off += buf.length) {
        const n = blob.copy(buf, 0, off, off + buf.length);
        appendFileSync(part, buf.subarray(0, n));
        feed.grew(buf.subarray(0, n));
        buf.fill(0x5a);
      }
      const staged = await feed.end({ mediaType: 'application/vnd.oci.image.layer.v1.tar', digest, size: blob.length }, part);
      expect(sha(readFileSync(join(staged.layerDir, 'data')))).toBe(sha(content));
      expect(staged.diffId).toBe(`sha256:${sha(readFileSync(tar))}`);
    });
  }
});
