import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { readFileThrough } from '../../src/image/streams.js';

const dir = mkdtempSync(join(tmpdir(), 'vessel-streams-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('readFileThrough: one read of a file, hashed', () => {
  const data = randomBytes(5 * (1 << 20) + 17);
  const file = join(dir, 'blob');
  writeFileSync(file, data);

  it('hashes the whole file and shows every piece', async () => {
    let seen = 0;
    const digest = await readFileThrough(file, { onChunk: (c) => { seen += c.length; } });
    expect(digest).toBe(`sha256:${createHash('sha256').update(data).digest('hex')}`);
    expect(seen).toBe(data.length);
  });

  it('stops at the next piece once its signal is aborted (the other reader of the file failed)', async () => {
    const stop = new AbortController();
    let pieces = 0;
    const read = readFileThrough(file, { signal: stop.signal, onChunk: () => { if (++pieces === 1) stop.abort(new Error('unpack refused an entry')); } });
    await expect(read).rejects.toThrow('unpack refused an entry');
    expect(pieces).toBe(1);
  });
});
