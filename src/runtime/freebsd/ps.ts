import { setTimeout as sleep } from 'node:timers/promises';
import { run } from '../../util/index.js';

/**
 * The processes of a jail, for `vessel stats` and the driver's own stop. (A running container's
 * end is seen by its monitor: native/freebsd, the reaper of its processes.)
 */

export async function jailPids(jail: string): Promise<number[]> {
  // ps(1): -J selects by jail (id or name) and implies -x; it exits 1 when nothing matched.
  const r = await run(['ps', '-o', 'pid=', '-J', jail], { allowFailure: true });
  if (r.exitCode !== 0) return [];
  return r.stdout.split('\n').map((l) => Number(l.trim())).filter((n) => Number.isInteger(n) && n > 0);
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
