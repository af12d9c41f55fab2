import { describe, expect, it } from 'vitest';
import { withRetry } from '../../src/registry/retry.js';

/**
 * withRetry (registry/retry.ts) and a pull's AbortSignal: once aborted, nothing is tried again and
 * no back-off is waited out, and what comes out is the signal's reason — also when the aborted
 * attempt failed with what looks transient (a connection reset by the abort itself).
 */
const reset = () => Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' });

describe('withRetry and an abort', () => {
  it('during the back-off: it ends at once with the reason, no further attempt', async () => {
    const ac = new AbortController();
    const reason = new Error('the caller went away');
    let calls = 0;
    const started = Date.now();
    const p = withRetry(async () => {
      calls++;
      throw reset();
    }, { what: 'read', where: 'x', attempts: 5, baseMs: 60_000, maxMs: 60_000, signal: ac.signal, onRetry: () => ac.abort(reason) });
    await expect(p).rejects.toBe(reason);
    expect(calls).toBe(1);
    expect(Date.now() - started).toBeLessThan(5_000);
  });

  it('an attempt cut by the abort (a transient-looking failure) is not retried: the reason comes out', async () => {
    const ac = new AbortController();
    const reason = new Error('another layer failed');
    let calls = 0;
    await expect(withRetry(async () => {
      calls++;
      ac.abort(reason);
      throw reset();
    }, { what: 'read', where: 'x', attempts: 5, baseMs: 1, signal: ac.signal })).rejects.toBe(reason);
    expect(calls).toBe(1);
  });

  it('already aborted: not tried at all', async () => {
    const reason = new Error('gone');
    let calls = 0;
    await expect(withRetry(async () => { calls++; }, { what: 'read', where: 'x', signal: AbortSignal.abort(reason) })).rejects.toBe(reason);
    expect(calls).toBe(0);
  });

  it('without an abort, transient failures are still retried', async () => {
    let calls = 0;
    expect(await withRetry(async () => {
      if (++calls < 3) throw reset();
      return 'ok';
    }, { what: 'read', where: 'x', attempts: 5, baseMs: 1, signal: new AbortController().signal })).toBe('ok');
    expect(calls).toBe(3);
  });
});
