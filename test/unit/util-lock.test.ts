import { afterAll, describe, expect, it } from 'vitest';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { acquireLock, tryLock, withLock } from '../../src/util/lock.js';

const dir = mkdtempSync(join(tmpdir(), 'vessel-lock-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('cross-process locks', () => {
  it('tryLock takes a free lock at once and writes its pid; a second try while it is held gets nothing', () => {
    const path = join(dir, 'sub', 'a.lock');
    const l = tryLock(path)!;
    expect(l).toBeDefined();
    expect(readFileSync(path, 'utf8').trim()).toBe(String(process.pid));
    expect(tryLock(path)).toBeUndefined();
    l.release();
    expect(existsSync(path)).toBe(false);
  });

  it('a lock whose owner is dead is stale and taken over', async () => {
    const path = join(dir, 'stale.lock');
    writeFileSync(path, '2147483646\n'); // no such pid
    const l = await acquireLock(path, { timeoutMs: 1000 });
    expect(readFileSync(path, 'utf8').trim()).toBe(String(process.pid));
    l.release();
  });

  it('a waiter whose signal aborts stops waiting at once, with the signal\'s reason (not the timeout)', async () => {
    const path = join(dir, 'held.lock');
    writeFileSync(path, `${process.pid}\n`); // held by a live process: this one
    const ac = new AbortController();
    const reason = new Error('the caller went away');
    setTimeout(() => ac.abort(reason), 100);
    // Its own timeout is past the test's: only the abort can end the wait in time.
    await expect(withLock(path, async () => 'ran', { timeoutMs: 600_000, signal: ac.signal })).rejects.toBe(reason);
    rmSync(path);
  });

  it('without a holder, withLock runs the function and releases', async () => {
    const path = join(dir, 'free.lock');
    expect(await withLock(path, async () => 'ran', { signal: new AbortController().signal })).toBe('ran');
    expect(existsSync(path)).toBe(false);
  });
});
