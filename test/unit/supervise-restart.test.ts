import { describe, expect, it } from 'vitest';
import { HEALTHY_UPTIME_MS, NO_RESTARTS, decideRestart, restartDelayMs, type RestartCount } from '../../src/supervise/restart.js';
import type { RestartPolicy } from '../../src/spec/types.js';

/** Runs a sequence of exit codes through the decision, as any supervisor does: the restarts it allows. */
function restartsAllowed(policy: RestartPolicy, codes: number[], uptimeMs = 0): boolean[] {
  let count: RestartCount = NO_RESTARTS;
  return codes.map((code) => {
    const d = decideRestart(policy, { code }, count, uptimeMs);
    count = d.count;
    return d.restart;
  });
}

describe('one restart decision (docker\'s meaning, every supervisor)', () => {
  it('no never restarts; always restarts after every exit', () => {
    expect(restartsAllowed({ mode: 'no' }, [1, 0])).toEqual([false, false]);
    expect(restartsAllowed({ mode: 'always' }, [0, 1, 0, 137])).toEqual([true, true, true, true]);
  });
  it('on-failure: after non-zero exits only', () => {
    expect(restartsAllowed({ mode: 'on-failure' }, [3, 3, 3, 0])).toEqual([true, true, true, false]);
  });
  it('on-failure:N allows N restarts in a row after failures', () => {
    expect(restartsAllowed({ mode: 'on-failure', maxRetries: 2 }, [1, 1, 1])).toEqual([true, true, false]);
  });
  it('the counter is consecutive failures: an exit 0 in between starts it over (always keeps running)', () => {
    // `always` with exits 1, 0, 1: the failure count goes 1, 0, 1 — the same counter on-failure reads.
    let count: RestartCount = NO_RESTARTS;
    const seen: number[] = [];
    for (const code of [1, 0, 1]) {
      count = decideRestart({ mode: 'always' }, { code }, count, 0).count;
      seen.push(count.failures);
    }
    expect(seen).toEqual([1, 0, 1]);
    // and on-failure:1 after a counter left at 1 by the previous run (an Emperor respawn reads it back)
    expect(decideRestart({ mode: 'on-failure', maxRetries: 1 }, { code: 1 }, { failures: 1, quickDeaths: 1 }, 0).restart).toBe(false);
    expect(decideRestart({ mode: 'on-failure', maxRetries: 1 }, { code: 1 }, NO_RESTARTS, 0).restart).toBe(true);
  });
  it('back-off doubles from 100 ms up to a minute, and starts over after a healthy run', () => {
    expect([0, 1, 2, 3, 11, 30].map(restartDelayMs)).toEqual([0, 100, 200, 400, 60_000, 60_000]);
    const quick = { failures: 3, quickDeaths: 3 };
    expect(decideRestart({ mode: 'always' }, { code: 1 }, quick, 50).delayMs).toBe(800);
    expect(decideRestart({ mode: 'always' }, { code: 1 }, quick, HEALTHY_UPTIME_MS).delayMs).toBe(100);
    expect(decideRestart({ mode: 'no' }, { code: 1 }, quick, 0).delayMs).toBe(0);
  });
});
