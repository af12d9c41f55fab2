import { setTimeout as sleep } from 'node:timers/promises';
import { host, run } from '../../util/index.js';
import { jailExists } from './jail8.js';

/**
 * Liveness with jail semantics: the container lives while any process of its jail lives. pwait(1)
 * (kqueue) waits for the pids `ps -J` lists; when they are gone the list is taken again, since a
 * process may have forked in between. Where pwait cannot run, poll instead.
 */

export async function jailPids(jail: string): Promise<number[]> {
  // ps(1): -J selects by jail (id or name) and implies -x; it exits 1 when nothing matched.
  const r = await run(['ps', '-o', 'pid=', '-J', jail], { allowFailure: true });
  if (r.exitCode !== 0) return [];
  return r.stdout.split('\n').map((l) => Number(l.trim())).filter((n) => Number.isInteger(n) && n > 0);
}

export interface WaitOptions {
  /** Polling interval when pwait is unavailable. */
  pollMs?: number;
  signal?: AbortSignal;
}

export async function waitJailEmpty(jail: string, opts: WaitOptions = {}): Promise<void> {
  let pwaitWorks = true;
  for (;;) {
    if (opts.signal?.aborted) return;
    const pids = await jailPids(jail);
    if (pids.length === 0) return;
    if (pwaitWorks) {
      try {
        const p = host().spawn(['pwait', ...pids.map(String)], { stdio: ['ignore', 'ignore', 'ignore'] });
        const end = await p.exited;
        // pwait exits 0 when all are gone (or were already gone); anything else: poll from now on.
        if (end.code === 0) continue;
      } catch {
        /* pwait missing: fall through to polling */
      }
      pwaitWorks = false;
    }
    if (!(await jailExists(jail))) return;
    await sleep(opts.pollMs ?? 500);
  }
}

/** Poll until the jail has no processes or the time is up; true when it emptied. */
export async function waitJailEmptyFor(jail: string, timeoutMs: number, pollMs = 100): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if ((await jailPids(jail)).length === 0) return true;
    if (Date.now() >= deadline) return false;
    await sleep(pollMs);
  }
}
